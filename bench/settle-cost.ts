/**
 * What a sale costs the workers: `--tickets` buyers admitted to a drop of as many units
 * (through the door's own admit, with the bench's worker settings and the simulated
 * provider), then sold by a workers process (workers/main.ts, as `start:workers` runs it)
 * started once they wait, while nothing else runs; prints the workers', Redis's and
 * MariaDB's CPU per sale and the commands Redis ran per sale (calls inside scripts
 * included), from the workers' readiness to the last sale. Run alternately before and
 * after a change: one run moves with the machine.
 *   npx node bench/settle-cost.ts --tickets 10000 [--production-redis] [--profile --out /tmp/settle]
 */
import { createProduct } from '../shared/domain/products/manage.ts';
import { admit } from '../shared/domain/admission/admit.ts';
import { openWorkersBench } from './workers-bench.ts';

const bench = await openWorkersBench('settle-cost', '3960', { tickets: { type: 'string', default: '10000' } });
const { deps } = bench;
const tickets = Number(bench.flags.tickets);
try {
  // The queue is filled first, with no worker running, so every reserve call finds a
  // full chunk whatever the workers' speed; then the workers start and only they run.
  const product = await createProduct(deps, {
    name: 'settle cost', description: '', manufacturer: '', price: 10, currency: 'EUR', type: 'reserve',
    opensAt: new Date(Date.now() - 1000), perUserLimit: 1, stock: tickets,
  });
  let next = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < tickets) {
      const i = next++;
      await admit(deps, { productId: product.id, userId: `s-${i}`, quantity: 1, paymentMethod: 'pm_card_visa', requestId: `r-${i}` });
    }
  }));
  await deps.admissions.flush();
  await bench.startWorkers();
  // From here on: the workers' start-up (loading modules) is behind, the sale ahead.
  const cost = await bench.measure();
  await bench.paid(product.id, tickets, 100, 300_000);
  const { seconds, text } = await cost(tickets);
  console.log(`${tickets} sales in ${seconds.toFixed(2)} s (${(tickets / seconds).toFixed(0)}/s): ${text}`);
} finally {
  await bench.close();
}
