import { Migration } from '@mikro-orm/migrations';

/** Products and the order ledger (one row per ticket that got stock). */
export class Migration20261124000000Initial extends Migration {

  override name = 'Migration20261124000000Initial';

  override up(): void | Promise<void> {
    this.addSql(`create table \`orders\` (\`id\` int unsigned not null auto_increment primary key, \`ticket_id\` varchar(64) not null, \`user_id\` varchar(128) not null, \`product_id\` int not null, \`quantity\` int not null, \`amount_minor\` int not null, \`currency\` varchar(3) not null, \`status\` enum('pending','paid','failed','expired') not null, \`created_at\` datetime(3) not null, \`updated_at\` datetime(3) not null) default character set utf8mb4 engine = InnoDB;`);
    this.addSql(`alter table \`orders\` add unique \`orders_ticket_id_unique\` (\`ticket_id\`);`);
    this.addSql(`alter table \`orders\` add index \`orders_user_id_index\` (\`user_id\`);`);
    this.addSql(`alter table \`orders\` add index \`orders_product_id_status_index\` (\`product_id\`, \`status\`);`);

    this.addSql(`create table \`products\` (\`id\` int unsigned not null auto_increment primary key, \`name\` varchar(200) not null, \`description\` text not null default (''), \`manufacturer\` varchar(200) not null default '', \`price_minor\` int not null, \`currency\` varchar(3) not null, \`type\` enum('reserve','general') not null, \`opens_at\` datetime(3) null, \`per_user_limit\` int not null default 1, \`total_stock\` int not null, \`created_at\` datetime(3) not null, \`updated_at\` datetime(3) not null) default character set utf8mb4 engine = InnoDB;`);
  }

}
