import { Migration20261124000000Initial } from './Migration20261124000000Initial.ts';
import { Migration20261124010000Payments } from './Migration20261124010000Payments.ts';
import { Migration20261124020000OperatorState } from './Migration20261124020000OperatorState.ts';
import { Migration20261130000000LedgerColumns } from './Migration20261130000000LedgerColumns.ts';
import { Migration20261201000000DropLog } from './Migration20261201000000DropLog.ts';

/** Every migration, in order. Listed explicitly so no file discovery runs at start-up. */
export const migrationsList = [
  { name: 'Migration20261124000000Initial', class: Migration20261124000000Initial },
  { name: 'Migration20261124010000Payments', class: Migration20261124010000Payments },
  { name: 'Migration20261124020000OperatorState', class: Migration20261124020000OperatorState },
  { name: 'Migration20261130000000LedgerColumns', class: Migration20261130000000LedgerColumns },
  { name: 'Migration20261201000000DropLog', class: Migration20261201000000DropLog },
];
