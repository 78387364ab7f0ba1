import { Migration } from '@mikro-orm/migrations';

/** One row per ticket the provider charged, declined or refunded. */
export class Migration20261124010000Payments extends Migration {
  override name = 'Migration20261124010000Payments';

  override up(): void | Promise<void> {
    this.addSql(`create table \`payments\` (\`id\` int unsigned not null auto_increment primary key, \`ticket_id\` varchar(64) not null, \`order_id\` int not null, \`status\` enum('succeeded','declined','refunded') not null, \`amount_minor\` int not null, \`currency\` varchar(3) not null, \`attempts\` int not null, \`provider_reference\` varchar(100) null, \`decline_reason\` varchar(100) null, \`refund_reference\` varchar(100) null, \`created_at\` datetime(3) not null, \`updated_at\` datetime(3) not null) default character set utf8mb4 engine = InnoDB;`);
    this.addSql(`alter table \`payments\` add unique \`payments_ticket_id_unique\` (\`ticket_id\`);`);
    this.addSql(`alter table \`payments\` add index \`payments_order_id_index\` (\`order_id\`);`);
  }
}
