import { Migration } from '@mikro-orm/migrations';

/**
 * What an operator set on a product (paused, admission rate) is kept in MySQL too, so a
 * product rebuilt after Redis lost it comes back paused and paced as the operator left it.
 */
export class Migration20261124020000OperatorState extends Migration {
  override name = 'Migration20261124020000OperatorState';

  override up(): void | Promise<void> {
    this.addSql('alter table `products` add `paused` tinyint(1) not null default 0, add `admission_rate_per_sec` int null;');
  }
}
