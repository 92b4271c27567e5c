import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';

/**
 * Who may use an application (authentik's PolicyAccessView, with group bindings in place of policy bindings). An
 * application with no bound group is open to every active user, as authentik's AppAccessWithoutBindings; otherwise
 * the user must be in a bound group or in a group below one. Membership is inherited downwards as superuser status
 * is (src/common/auth): a member of a child group is a member of its parent, not the other way round.
 *
 * One statement: the user's groups and all their ancestors (a recursive walk up groups.parent_id; UNION, not UNION
 * ALL, so a cycle in the tree ends the walk instead of looping), against the application's bindings. An unknown or
 * inactive user, or an unknown application, gets false.
 */
const ALLOWED = `
  WITH RECURSIVE reach AS (
    SELECT ug.group_id AS id FROM user_groups ug WHERE ug.user_id = $1
    UNION
    SELECT g.parent_id FROM groups g JOIN reach r ON g.id = r.id WHERE g.parent_id IS NOT NULL
  )
  SELECT (
    u.is_active
    AND EXISTS (SELECT 1 FROM applications a WHERE a.id = $2)
    AND (
      NOT EXISTS (SELECT 1 FROM application_groups ag WHERE ag.application_id = $2)
      OR EXISTS (SELECT 1 FROM application_groups ag JOIN reach r ON r.id = ag.group_id WHERE ag.application_id = $2)
    )
  ) AS allowed
  FROM users u WHERE u.id = $1`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

@Injectable()
export class ApplicationAccess {
  constructor(private readonly dataSource: DataSource) {}

  async allowed(userId: number, applicationId: string, manager?: EntityManager): Promise<boolean> {
    // Not an application id at all: no application, and no cast error from PostgreSQL.
    if (!UUID.test(applicationId) || !Number.isSafeInteger(userId)) return false;
    const rows = await (manager ?? this.dataSource.manager).query<{ allowed: boolean }[]>(ALLOWED, [
      userId,
      applicationId,
    ]);
    return rows[0]?.allowed === true;
  }
}
