// Live drop dashboard: listens to /admin/dashboard/events (server-sent events, one frame a
// second) and steers drops through the admin API. Plain browser JavaScript, no build step.

/** Charts show up to two minutes; a younger history fills the width (at least 30 s). */
const WINDOW_MS = 120_000;
const MIN_WINDOW_MS = 30_000;
const SVG = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);

const OUTCOMES = [
  ['queued', 'Queued', 'var(--depth)'],
  ['reserved', 'Reserved', 'var(--reserved)'],
  ['paid', 'Paid', 'var(--paid)'],
  ['sold_out', 'Sold out', 'var(--sold)'],
  ['payment_failed', 'Payment failed', 'var(--failed)'],
  ['expired', 'Expired', '#fb7185'],
  ['rejected', 'Rejected', 'var(--faint)'],
];

const int = new Intl.NumberFormat('en-US');
const fmtInt = (n) => int.format(Math.round(n));
const fmtRate = (n) => (n >= 100 ? fmtInt(n) : n >= 10 ? n.toFixed(0) : n.toFixed(1));
const money = (amount, currency) => {
  try {
    return new Intl.NumberFormat('en-US', { style: 'currency', currency }).format(amount);
  } catch {
    return `${amount.toFixed(2)} ${currency}`;
  }
};
const hms = (ms) => new Date(ms).toISOString().slice(11, 19);
const countdown = (ms) => {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const d = Math.floor(s / 86400);
  const rest = [Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60), s % 60].map((v) => String(v).padStart(2, '0')).join(':');
  return d > 0 ? `${d}d ${rest}` : rest;
};

const duration = (ms) => {
  const s = Math.ceil(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
};

/** Creates an element: h('div', { class: 'x', dataset: {...} }, child, 'text'). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style') for (const [p, val] of Object.entries(v)) el.style.setProperty(p, val);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  el.append(...children);
  return el;
}

function s(tag, attrs = {}) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

/* ---------- state ---------- */

const state = {
  clockOffsetMs: 0,
  cards: new Map(),
  history: new Map(),
  order: '',
};

const serverNow = () => Date.now() + state.clockOffsetMs;

/* ---------- charts ---------- */

/** A small live chart: one or two series over the last two minutes. */
function chart(label, unit, series) {
  const value = h('strong', { class: 'chart__value num' }, '0');
  const svg = s('svg', { viewBox: '0 0 300 64', preserveAspectRatio: 'none', role: 'img', 'aria-label': label });
  for (const y of [1, 32, 63]) svg.append(s('line', { class: 'grid', x1: 0, x2: 300, y1: y, y2: y }));
  const paths = series.map(({ color }) => {
    const area = s('path', { class: 'area', fill: color });
    const line = s('path', { class: 'line', stroke: color });
    svg.append(area, line);
    return { area, line };
  });
  const max = h('span', { class: 'num' }, '');
  const span = h('span', {}, '');
  const keys = h('span', {}, ...(series.length > 1 ? series.toReversed().map((x) => h('span', { class: 'key', style: { '--dot': x.color } }, x.label)) : [span]));
  const el = h('figure', { class: 'chart', dataset: { chart: label } },
    h('figcaption', {}, h('span', { class: 'chart__label' }, label), value),
    svg,
    h('div', { class: 'chart__foot' }, keys, max));
  return {
    el,
    draw(points, now, current) {
      value.replaceChildren(current, h('small', {}, unit));
      const shown = points.filter((p) => p.t >= now - WINDOW_MS);
      const windowMs = Math.min(WINDOW_MS, Math.max(MIN_WINDOW_MS, now - (shown[0]?.t ?? now)));
      const top = Math.max(niceMax(shown, series), 1);
      max.textContent = `max ${fmtRate(top)}`;
      span.textContent = windowMs >= WINDOW_MS ? 'last 2 min' : `last ${Math.round(windowMs / 1000)} s`;
      series.forEach((x, i) => {
        const pts = shown.map((p) => [
          ((p.t - (now - windowMs)) / windowMs) * 300,
          63 - (Math.min(p[x.key], top) / top) * 60,
        ]);
        if (pts.length < 2) {
          paths[i].line.setAttribute('d', '');
          paths[i].area.setAttribute('d', '');
          return;
        }
        const d = pts.map(([px, py], j) => `${j ? 'L' : 'M'}${px.toFixed(1)},${py.toFixed(1)}`).join('');
        paths[i].line.setAttribute('d', d);
        paths[i].area.setAttribute('d', `${d}L${pts.at(-1)[0].toFixed(1)},64L${pts[0][0].toFixed(1)},64Z`);
      });
    },
  };
}

function niceMax(points, series) {
  let m = 0;
  for (const p of points) for (const x of series) m = Math.max(m, p[x.key]);
  if (m <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(m));
  return Math.ceil((m * 1.1) / step) * step;
}

/* ---------- product card ---------- */

function card(p) {
  const title = h('h2', {}, p.name);
  const meta = h('p', { class: 'card__meta' });
  const pill = h('span', { class: 'pill' });
  const toggle = h('button', { class: 'btn', type: 'button', dataset: { action: 'pause' } }, 'Pause');
  const rateInput = h('input', { type: 'number', min: '1', step: '1', inputmode: 'numeric', 'aria-label': 'Admission rate per second' });
  const rateForm = h('form', { class: 'rate' }, h('label', { for: `rate-${p.id}` }, 'Rate'), rateInput, h('span', {}, '/s'),
    h('button', { class: 'btn btn--small', type: 'submit' }, 'Set'));
  rateInput.id = `rate-${p.id}`;
  // A rate being typed is never overwritten by the next frame.
  rateInput.addEventListener('input', () => (rateInput.dataset.dirty = 'true'));
  rateInput.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape') return;
    delete rateInput.dataset.dirty;
    rateInput.value = c.product.ratePerSecond ?? '';
    rateInput.blur();
  });

  const seg = (cls) => h('span', { class: `seg ${cls}` });
  const bar = { sold: seg('seg--sold'), reserved: seg('seg--reserved'), available: seg('seg--available') };
  const legendItem = (key, label, color) => {
    const dd = h('dd', { class: 'num' }, '0');
    return { dd, el: h('div', { dataset: { stock: key } }, h('dt', { style: { '--dot': color } }, label), dd) };
  };
  const legend = {
    sold: legendItem('sold', 'Sold', 'var(--sold)'),
    reserved: legendItem('reserved', 'Reserved', 'var(--reserved)'),
    available: legendItem('available', 'Available', 'var(--available)'),
    total: legendItem('total', 'Total', ''),
  };
  legend.total.el.classList.add('total');

  const depth = chart('Queue depth', ' in line', [{ key: 'depth', color: 'var(--depth)', label: 'in line' }]);
  const admitted = chart('Admissions', ' /s', [
    { key: 'processed', color: 'var(--processed)', label: 'served' },
    { key: 'admitted', color: 'var(--admitted)', label: 'at the door' },
  ]);
  const settled = chart('Settlements', ' /s', [
    { key: 'failed', color: 'var(--failed)', label: 'failed + expired' },
    { key: 'paid', color: 'var(--paid)', label: 'paid' },
  ]);
  const jobs = h('p', { class: 'chart__foot', dataset: { role: 'jobs' } });
  depth.el.append(jobs);

  const outcomeRows = new Map();
  const list = h('ul', {}, ...OUTCOMES.map(([key, label, color]) => {
    const b = h('b', {}, '0');
    const li = h('li', { style: { '--dot': color }, dataset: { outcome: key } }, h('span', {}, label), b);
    outcomeRows.set(key, { li, b });
    return li;
  }));
  const admittedTotal = h('b', {}, '0');
  const outcomes = h('section', { class: 'outcomes' }, h('h3', {}, h('span', {}, 'Ticket outcomes'), h('span', {}, 'admitted ', admittedTotal)), list);

  const el = h('section', { class: 'card', dataset: { productId: String(p.id) }, 'aria-label': p.name },
    h('div', { class: 'card__head' },
      h('div', { class: 'card__title' }, title, meta),
      pill,
      h('div', { class: 'controls' }, toggle, rateForm)),
    h('div', { class: 'stock' },
      h('div', { class: 'stock__bar', role: 'img', 'aria-label': 'Stock' }, bar.sold, bar.reserved, bar.available),
      h('dl', { class: 'legend' }, legend.sold.el, legend.reserved.el, legend.available.el, legend.total.el)),
    h('div', { class: 'card__body' }, depth.el, admitted.el, settled.el, outcomes));

  const c = { el, product: p };

  toggle.addEventListener('click', async () => {
    const action = c.product.paused ? 'resume' : 'pause';
    toggle.disabled = true;
    const res = await admin('POST', `/admin/products/${c.product.id}/${action}`);
    toggle.disabled = false;
    if (res) {
      update(c, { ...c.product, paused: res.paused });
      toast(`${action === 'pause' ? 'Paused' : 'Resumed'} admission of “${c.product.name}”.`);
    }
  });
  rateForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const perSecond = Number(rateInput.value);
    if (!Number.isInteger(perSecond) || perSecond < 1) return toast('The rate is a whole number of admissions per second, at least 1.', 'error');
    const res = await admin('PUT', `/admin/products/${c.product.id}/rate`, { perSecond });
    if (res) {
      delete rateInput.dataset.dirty;
      rateInput.blur();
      update(c, { ...c.product, ratePerSecond: res.ratePerSecond });
      toast(`“${c.product.name}” now admits ${fmtInt(res.ratePerSecond)} per second.`);
    }
  });

  c.update = (q) => {
    title.textContent = q.name;
    const opensAt = q.opensAt ? Date.parse(q.opensAt) : null;
    const bits = [`#${q.id}`, q.type === 'reserve' ? 'Drop' : 'General', money(q.price, q.currency)];
    if (q.type === 'reserve') bits.push(q.perUserLimit > 0 ? `${q.perUserLimit} per buyer` : 'no per-buyer limit');
    if (opensAt !== null) bits.push(`${opensAt > serverNow() ? 'opens' : 'opened'} ${new Date(opensAt).toISOString().replace('T', ' ').slice(0, 19)} UTC`);
    if (q.queueOpensAt) {
      const drawn = opensAt !== null && opensAt <= serverNow();
      bits.push(drawn ? `pre-queue of ${fmtInt(q.preQueued)} drawn` : `pre-queue ${fmtInt(q.preQueued)} (draw at opensAt)`);
    }
    if (q.type === 'general') bits.push('shared general queue');
    meta.textContent = bits.join(' · ');

    const [stateName, stateText] = phase(q, opensAt);
    pill.dataset.state = stateName;
    pill.textContent = stateText;
    el.dataset.paused = String(q.paused);
    toggle.textContent = q.paused ? 'Resume' : 'Pause';
    toggle.dataset.action = q.paused ? 'resume' : 'pause';
    toggle.className = `btn ${q.paused ? 'btn--resume' : 'btn--pause'}`;
    rateForm.hidden = q.type !== 'reserve';
    if (document.activeElement !== rateInput && !rateInput.dataset.dirty) rateInput.value = q.ratePerSecond ?? '';

    const total = Math.max(q.stock.total, q.stock.sold + q.stock.reserved + q.stock.available, 1);
    for (const key of ['sold', 'reserved', 'available']) {
      bar[key].style.width = `${(q.stock[key] / total) * 100}%`;
      legend[key].dd.replaceChildren(h('span', { class: 'v' }, fmtInt(q.stock[key])), h('span', { class: 'pct' }, ` ${Math.round((q.stock[key] / total) * 100)}%`));
    }
    legend.total.dd.textContent = fmtInt(q.stock.total);

    const points = state.history.get(q.id) ?? [];
    const now = points.at(-1)?.t ?? serverNow();
    depth.draw(points, now, fmtInt(q.tickets.queued));
    admitted.draw(points, now, fmtRate(q.rates.admitted));
    settled.draw(points, now, fmtRate(q.rates.paid + q.rates.failed));
    const eta = q.lastEtaMs !== null && q.lastEtaMs !== undefined ? ` · last in line served in ≈ ${duration(q.lastEtaMs)}` : '';
    const pay = q.type === 'reserve' ? ` · payments ${fmtInt(q.payments.waiting)} waiting, ${fmtInt(q.payments.active)} active` : '';
    jobs.textContent = `${fmtInt(q.queue.waiting)} jobs waiting · ${fmtInt(q.queue.active)} active${eta}${pay}`;
    jobs.title = `BullMQ queues ${q.queueName}, ${q.paymentQueueName}`;

    for (const [key] of OUTCOMES) {
      const row = outcomeRows.get(key);
      row.b.textContent = fmtInt(q.tickets[key] ?? 0);
      row.li.dataset.zero = String(!q.tickets[key]);
    }
    admittedTotal.textContent = fmtInt(q.admitted);
  };
  return c;
}

function phase(p, opensAt) {
  if (p.paused) return ['paused', 'Paused'];
  const queueOpensAt = p.queueOpensAt ? Date.parse(p.queueOpensAt) : null;
  if (queueOpensAt !== null && opensAt !== null && queueOpensAt <= serverNow() && opensAt > serverNow()) {
    return ['upcoming', `Pre-queue open · draw in ${countdown(opensAt - serverNow())}`];
  }
  if (opensAt !== null && opensAt > serverNow()) return ['upcoming', `Opens in ${countdown(opensAt - serverNow())}`];
  if (p.stock.total > 0 && p.stock.available + p.stock.reserved === 0) return ['soldout', 'Sold out'];
  if (p.type === 'reserve' && p.stock.available === 0 && p.stock.reserved > 0) return ['live', 'Live · all units held'];
  return ['live', p.type === 'reserve' ? 'Live' : 'On sale'];
}

function update(c, p) {
  c.product = p;
  c.update(p);
}

/* ---------- frames ---------- */

function applyFrame(frame) {
  state.clockOffsetMs = frame.t - Date.now();
  const main = $('products');
  const seen = new Set();
  for (const p of frame.products) {
    seen.add(p.id);
    const points = state.history.get(p.id) ?? [];
    if (points.at(-1)?.t !== frame.t) {
      points.push({ t: frame.t, depth: p.tickets.queued, ...p.rates });
      while (points.length && points[0].t < frame.t - WINDOW_MS - 5000) points.shift();
    }
    state.history.set(p.id, points);
    let c = state.cards.get(p.id);
    if (!c) {
      c = card(p);
      state.cards.set(p.id, c);
    }
    update(c, p);
  }
  for (const [id, c] of state.cards) {
    if (!seen.has(id)) {
      c.el.remove();
      state.cards.delete(id);
    }
  }
  const order = frame.products.map((p) => p.id).join(',');
  if (order !== state.order) {
    state.order = order;
    main.append(...frame.products.map((p) => state.cards.get(p.id).el));
  }
  $('empty').hidden = frame.products.length > 0;
  renderSystem(frame.queues);
}

function renderSystem(queues) {
  const names = ['payment-general', 'expiry', 'general'];
  $('system').replaceChildren(...names.filter((n) => queues[n]).map((n) => {
    const q = queues[n];
    return h('li', { dataset: { queue: n } }, h('span', {}, n),
      h('span', {}, h('b', { class: 'num' }, fmtInt(q.waiting)), ' waiting'),
      h('span', {}, h('b', { class: 'num' }, fmtInt(q.active)), ' active'),
      ...(n === 'expiry' ? [h('span', {}, h('b', { class: 'num' }, fmtInt(q.delayed)), ' scheduled')] : []),
      ...(q.failed ? [h('span', { class: 'bad' }, h('b', { class: 'num bad' }, fmtInt(q.failed)), ' failed')] : []));
  }));
}

/* ---------- admin calls, toasts, connection ---------- */

async function admin(method, path, body) {
  try {
    const res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body ? { 'Content-Type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await res.json().catch(() => null);
    if (!res.ok) {
      toast(json?.error?.message ?? `The server answered ${res.status}.`, 'error');
      return null;
    }
    return json;
  } catch {
    toast('The server could not be reached.', 'error');
    return null;
  }
}

let toastTimer = 0;
function toast(message, kind = 'info') {
  const el = $('toast');
  el.textContent = message;
  el.dataset.kind = kind;
  el.dataset.show = 'true';
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.dataset.show = 'false'), 3500);
}

function setConnection(stateName, text) {
  const el = $('conn');
  el.dataset.state = stateName;
  el.textContent = text;
}

function connect() {
  const events = new EventSource('/admin/dashboard/events');
  events.addEventListener('open', () => setConnection('live', 'Live'));
  events.addEventListener('error', () => setConnection('down', 'Reconnecting'));
  events.addEventListener('hello', (e) => {
    const hello = JSON.parse(e.data);
    state.history = new Map(Object.entries(hello.history).map(([id, points]) => [Number(id), points]));
    if (hello.frame) applyFrame(hello.frame);
    else $('empty').hidden = true;
  });
  events.addEventListener('frame', (e) => {
    $('banner').hidden = true;
    setConnection('live', 'Live');
    applyFrame(JSON.parse(e.data));
  });
  events.addEventListener('problem', (e) => {
    const banner = $('banner');
    banner.textContent = `${JSON.parse(e.data).message} The numbers below are the last ones received.`;
    banner.hidden = false;
  });
}

setInterval(() => {
  $('clock').textContent = hms(serverNow());
  for (const c of state.cards.values()) if (c.product.opensAt && Date.parse(c.product.opensAt) > serverNow() - 2000) c.update(c.product);
}, 250);

connect();
