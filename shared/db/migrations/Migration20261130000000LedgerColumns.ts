import { Migration } from '@mikro-orm/migrations';

/**
 * The ledger as the contract reads it:
 * - user ids and ticket ids compare case-sensitively (`CAROL` is not `carol`): binary
 *   collation, so a lookup by one never finds the other's rows;
 * - amounts in 64 bits (price × quantity outgrew a 32-bit int);
 * - each order keeps the buyer's payment method, so a hold restored after Redis lost its
 *   data can still be paid, and the time the provider was last found to hold no charge
 *   for an order that ended without a sale (the payment reconciliation);
 * - each product keeps its last snapshot of live counters from Redis, and every time
 *   Redis was found to have lost a product is recorded with what was lost.
 */
export class Migration20261130000000LedgerColumns extends Migration {
  override name = 'Migration20261130000000LedgerColumns';

  override up(): void | Promise<void> {
    this.addSql(`alter table \`orders\`
      modify \`ticket_id\` varchar(64) character set utf8mb4 collate utf8mb4_bin not null,
      modify \`user_id\` varchar(128) character set utf8mb4 collate utf8mb4_bin not null,
      modify \`amount_minor\` bigint not null,
      add \`payment_method\` varchar(64) null,
      add \`charge_verified_at\` datetime(3) null,
      add index \`orders_status_charge_verified_at_index\` (\`status\`, \`charge_verified_at\`);`);
    this.addSql(`alter table \`payments\`
      modify \`ticket_id\` varchar(64) character set utf8mb4 collate utf8mb4_bin not null,
      modify \`amount_minor\` bigint not null;`);
    this.addSql('alter table `products` add `redis_snapshot` json null;');
    this.addSql(`create table \`redis_losses\` (
      \`id\` int unsigned not null auto_increment primary key,
      \`product_id\` int not null,
      \`detected_at\` datetime(3) not null,
      \`snapshot_at\` datetime(3) null,
      \`queued_lost\` int not null,
      \`ended_lost\` int not null,
      \`admitted_at_snapshot\` int not null,
      \`restored_holds\` int not null
    ) default character set utf8mb4 engine = InnoDB;`);
    this.addSql('alter table `redis_losses` add index `redis_losses_product_id_detected_at_index` (`product_id`, `detected_at`);');
  }
}
