import { runMigrations } from '../../database/migrations';
import { defineCommand } from '../args';

export const migrate = defineCommand({
  name: 'migrate',
  summary: 'Apply pending database migrations (safe to run while servers run: they wait on the same lock).',
  options: {},
  migratesItself: true,
  prepare() {
    return async ({ dataSource }) => {
      const applied = await runMigrations(dataSource);
      return {
        json: { applied },
        text:
          applied.length === 0
            ? 'The database is up to date.'
            : `Applied ${applied.length} migration(s):\n${applied.map((name) => `  ${name}`).join('\n')}`,
      };
    };
  },
});
