import { CLI_CALLER } from '../../common/auth/caller';
import { CreateApplicationCommand } from '../../management/applications/application.commands';
import { checkNewApplication } from '../../providers/providers';
import { defineCommand, parseInteger } from '../args';

export const appCreate = defineCommand({
  name: 'app create',
  summary:
    'Create an application, optionally served by a provider (a provider serves at most one application) and ' +
    'bound to groups (then only their members, and members of groups below them, may sign in to it).',
  options: {
    slug: {
      type: 'string',
      valueName: 'SLUG',
      required: true,
      description: 'letters, digits, "-" and "_"; at most 50 characters; unique',
    },
    name: { type: 'string', valueName: 'NAME', required: true, description: 'display name' },
    provider: { type: 'string', valueName: 'ID', description: 'pk of the OAuth2 provider' },
    group: {
      type: 'string',
      valueName: 'NAME',
      multiple: true,
      description: 'a group whose members may use it; without any, every active user may',
    },
  },
  prepare(options) {
    const providerId =
      options.provider === undefined ? null : parseInteger('provider', options.provider, 1, 2_147_483_647);
    return async ({ dataSource, bus }) => {
      // The CLI's own checks first, for its wording; then the management API's create command, as
      // POST /api/v3/core/applications/ runs it (it checks again, in its transaction), with the group bindings.
      await checkNewApplication(dataSource.manager, { slug: options.slug, name: options.name, providerId });
      const { application, groups: bound } = await (
        await bus()
      ).execute(
        new CreateApplicationCommand(
          CLI_CALLER,
          { slug: options.slug, name: options.name.trim(), provider: providerId },
          options.group,
        ),
      );
      const app = { ...application, groups: bound };
      const groups = app.groups.map((group) => `"${group}"`).join(', ');
      return {
        json: { pk: app.id, slug: app.slug, name: app.name, provider: app.providerId, groups: app.groups },
        text:
          `Created application "${app.slug}" (pk ${app.id})` +
          `${app.providerId === null ? '' : ` served by provider ${app.providerId}`}` +
          `${app.groups.length === 0 ? ', open to every active user' : `, for members of ${groups}`}.`,
      };
    };
  },
});
