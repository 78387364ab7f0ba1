import { Migration } from '@mikro-orm/migrations';

/**
 * The pre-queue and the event log:
 * - a reserve product may open a pre-queue before it opens (`queue_opens_at`); its
 *   lottery's seed is kept here (secret until `opens_at`, then shown);
 * - every decision about a drop, drained from its log in Redis (`drop_events`), and the
 *   door's refusals counted by code (`drop_refusals`).
 */
export class Migration20261201000000DropLog extends Migration {
  override name = 'Migration20261201000000DropLog';

  override up(): void | Promise<void> {
    this.addSql('alter table `products` add `queue_opens_at` datetime(3) null, add `lottery_seed` char(64) null;');
    this.addSql(`create table \`drop_events\` (
      \`product_id\` int not null,
      \`event_ms\` bigint not null,
      \`event_seq\` int not null,
      \`type\` varchar(20) not null,
      \`ticket_id\` varchar(64) character set utf8mb4 collate utf8mb4_bin not null,
      \`user_id\` varchar(128) character set utf8mb4 collate utf8mb4_bin not null,
      \`qty\` int not null,
      \`order_key\` varchar(24) not null,
      \`extra\` varchar(1000) not null,
      \`hash\` varchar(40) not null,
      primary key (\`product_id\`, \`event_ms\`, \`event_seq\`)
    ) default character set utf8mb4 engine = InnoDB;`);
    this.addSql('alter table `drop_events` add index `drop_events_product_id_ticket_id_index` (`product_id`, `ticket_id`);');
    this.addSql(`create table \`drop_refusals\` (
      \`product_id\` int not null,
      \`code\` varchar(32) not null,
      \`count\` bigint not null,
      primary key (\`product_id\`, \`code\`)
    ) default character set utf8mb4 engine = InnoDB;`);
  }
}
