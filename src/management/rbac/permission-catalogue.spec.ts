import { CATALOGUE, findPermission } from './permission-catalogue';

describe('permission catalogue', () => {
  it('has unique names and ids 1..n in order', () => {
    const names = CATALOGUE.map((entry) => `${entry.app_label}.${entry.codename}`);
    expect(new Set(names).size).toBe(names.length);
    expect(CATALOGUE.map((entry) => entry.id)).toEqual(CATALOGUE.map((_, index) => index + 1));
  });

  // Ids are handed to clients (assign's answer, the list's `id`): these must never move. Append new models at the end.
  it.each([
    ['authentik_core.add_user', 1, 'Can add User'],
    ['authentik_core.view_group', 12, 'Can view Group'],
    ['authentik_core.enable_group_superuser', 15, 'Enable superuser status'],
    ['authentik_rbac.assign_role_permissions', 31, 'Can assign permissions to users'],
    ['authentik_providers_oauth2.view_accesstoken', 46, 'Can view OAuth2 Access Token'],
    ['authentik_events.view_event', 62, 'Can view Event'],
  ])('%s is id %d, "%s"', (name, id, text) => {
    expect(findPermission(name)).toMatchObject({ id, name: text });
  });

  it('holds every permission the seed, the bench and the inventory use', () => {
    for (const model of ['accesstoken', 'refreshtoken', 'authorizationcode']) {
      for (const action of ['view', 'delete']) {
        expect(findPermission(`authentik_providers_oauth2.${action}_${model}`)).toBeDefined();
      }
    }
    expect(findPermission('authentik_core.view_nothing')).toBeUndefined();
    expect(CATALOGUE).toHaveLength(62);
  });
});
