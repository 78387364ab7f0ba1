import { GeneralProber, type Probe } from './prober.ts';

/**
 * The general buyers in a process of their own (driven by bench/run.ts over IPC), so
 * neither the load generator's nor the orchestrator's event loop delays them:
 * `start` {port, productId, secret, perSecond, count} then `stop`, which answers with
 * every probe.
 */
type Start = { type: 'start'; port: number; productId: number; secret: string; perSecond: number; count: number };
type Stop = { type: 'stop' };

let prober: GeneralProber | null = null;

process.on('message', (m: Start | Stop) => {
  if (m.type === 'start') {
    prober = new GeneralProber(m.port, m.productId, m.secret, 'g-');
    void prober.prepare(m.count).then(() => {
      prober!.start(m.perSecond);
      process.send!({ type: 'started', at: Date.now() });
    });
  } else {
    void prober!.stop().then(() => process.send!({ type: 'done', result: prober!.probes satisfies Probe[] }));
  }
});
process.on('disconnect', () => process.exit(0));
