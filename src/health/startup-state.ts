import { Injectable } from '@nestjs/common';

/**
 * Whether start-up has finished its database work (the bootstrap). Normally it has before the server listens; with
 * RUN_MIGRATIONS=false on a database not yet migrated, the server listens first and bootstraps once the deploy's
 * migration step is done, and readiness waits for that too, so no instance is routed traffic before
 * BOOTSTRAP_TOKEN works on it.
 */
@Injectable()
export class StartupState {
  bootstrapped = false;
}
