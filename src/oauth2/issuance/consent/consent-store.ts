import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { ConsentMode } from '../../../providers/oauth2-provider.entity';
import { parseTimedelta } from '../../../providers/timedelta';

export interface ConsentQuery {
  userId: number;
  applicationId: string;
}

export interface ConsentRequiredInput extends ConsentQuery {
  /** The scopes the authorize request will grant (after authentik's dropping of unknown ones). */
  scopes: string[];
  /** The provider's consent_mode. */
  mode: ConsentMode;
  /** prompt=consent: ask whatever is stored. */
  forced: boolean;
}

export interface ConsentRecordInput extends ConsentQuery {
  scopes: string[];
  mode: ConsentMode;
  /** The provider's consent_expire_in (authentik's duration syntax); used by 'expiring' only. */
  expireIn: string;
}

/** The stored form of a scope set: unique, sorted, space-joined, so equal sets are equal strings. */
export function permissionsOf(scopes: readonly string[]): string {
  return [...new Set(scopes.filter((scope) => scope !== ''))].sort().join(' ');
}

function scopesOf(permissions: string): string[] {
  return permissions.split(' ').filter((scope) => scope !== '');
}

/**
 * Stored consent (authentik's ConsentStage and UserConsent, without flows). A consent is reused only when the scope
 * set now requested equals the stored set exactly, as authentik's stage compares them: a subset asks again too, so
 * the user sees what the application asks for now, and the stored row is then replaced by the new set.
 */
@Injectable()
export class ConsentStore {
  constructor(private readonly dataSource: DataSource) {}

  /** Whether the consent page must be shown before this authorization goes on. */
  async required(input: ConsentRequiredInput, manager?: EntityManager): Promise<boolean> {
    if (input.forced) return true;
    switch (input.mode) {
      case 'implicit':
        return false;
      case 'always':
        return true;
      case 'expiring':
      case 'permanent': {
        const stored = await this.stored(input, manager);
        return stored === undefined || stored !== permissionsOf(input.scopes);
      }
    }
  }

  /**
   * Stores the user's consent to `scopes`: until now + expireIn ('expiring') or for good ('permanent'), replacing
   * what was stored. 'implicit' and 'always' store nothing. Concurrent calls for the same user and application
   * (two tabs, a double click) do not fail: the last one wins.
   */
  async record(input: ConsentRecordInput, manager?: EntityManager): Promise<void> {
    let expiresInMs: number | null;
    switch (input.mode) {
      case 'implicit':
      case 'always':
        return;
      case 'expiring':
        expiresInMs = parseTimedelta(input.expireIn, 'consent_expire_in');
        break;
      case 'permanent':
        expiresInMs = null;
        break;
    }
    await (manager ?? this.dataSource.manager).query(
      `INSERT INTO user_consents (user_id, application_id, permissions, expires)
       VALUES ($1, $2, $3, now() + $4::double precision * interval '1 millisecond')
       ON CONFLICT (user_id, application_id)
       DO UPDATE SET permissions = EXCLUDED.permissions, expires = EXCLUDED.expires`,
      [input.userId, input.applicationId, permissionsOf(input.scopes), expiresInMs],
    );
  }

  /**
   * The scopes of the user's unexpired consent to the application, sorted; [] when there is none. The consent page
   * marks what is requested beyond these.
   */
  async previouslyConsented(input: ConsentQuery, manager?: EntityManager): Promise<string[]> {
    const stored = await this.stored(input, manager);
    return stored === undefined ? [] : scopesOf(stored);
  }

  private async stored(input: ConsentQuery, manager?: EntityManager): Promise<string | undefined> {
    const rows = await (manager ?? this.dataSource.manager).query<{ permissions: string }[]>(
      `SELECT permissions FROM user_consents
        WHERE user_id = $1 AND application_id = $2 AND (expires IS NULL OR expires > now())`,
      [input.userId, input.applicationId],
    );
    return rows[0]?.permissions;
  }
}
