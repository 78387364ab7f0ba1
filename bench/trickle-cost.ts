/**
 * What a sale costs the workers when buyers come one at a time, as general buyers do (the
 * shop, 50/s in the drop bench): a workers process (workers/main.ts, as `start:workers`
 * runs it) and a general product; one purchase through the door's own `admit` every
 * 1/`--rate` s until `--sales` are paid. Prints the workers', Redis's and MariaDB's CPU per
 * sale and the commands Redis ran per sale (calls inside scripts included), from the first
 * purchase to the last sale. bench/settle-cost.ts measures the same with the queue full,
 * as in a drop; here every step of a sale is a batch of one (or of the purchases that
 * share a general product's admission job, GENERAL_ADMISSION_LINGER_MS).
 * `--type reserve` sells a drop at that pace instead (opened a second before): a door that
 * admits a steady `--rate` buyers a second, as a slow door does during a long sale.
 *   npx node bench/trickle-cost.ts [--rate 50] [--sales 1000] [--type general|reserve] [--profile --out /tmp/trickle]
 */
import { createProduct } from '../shared/domain/products/manage.ts';
import { admit } from '../shared/domain/admission/admit.ts';
import { openWorkersBench } from './workers-bench.ts';

const bench = await openWorkersBench('trickle-cost', '3961', {
  rate: { type: 'string', default: '50' },
  sales: { type: 'string', default: '1000' },
  type: { type: 'string', default: 'general' },
});
const { deps } = bench;
const rate = Number(bench.flags.rate);
const sales = Number(bench.flags.sales);
const type = bench.flags.type === 'reserve' ? 'reserve' : 'general';
try {
  const product = await createProduct(deps, {
    name: 'trickle cost', description: '', manufacturer: '', price: 10, currency: 'EUR', type, perUserLimit: 0, stock: sales,
    ...(type === 'reserve' ? { opensAt: new Date(Date.now() - 1000) } : {}),
  });
  await bench.startWorkers();
  await new Promise((r) => setTimeout(r, 1000)); // the workers' start-up behind
  const cost = await bench.measure();
  const t0 = performance.now();
  for (let i = 0; i < sales; i++) {
    const wait = t0 + (i * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    void admit(deps, { productId: product.id, userId: `t-${i}`, quantity: 1, paymentMethod: 'pm_card_visa', requestId: `r-${i}` });
  }
  await bench.paid(product.id, sales, 50, 60_000);
  const { seconds, workersCores, text } = await cost(sales);
  console.log(`${sales} sales at ${rate}/s in ${seconds.toFixed(2)} s (workers ${workersCores.toFixed(2)} of a core): ${text}`);
} finally {
  await bench.close();
}
