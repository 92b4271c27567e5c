import { Check, Column, Entity, Index, PrimaryColumn } from 'typeorm';

export const SIGNING_ALGORITHMS = ['RS256', 'ES256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/** The public half as served on JWKS: RSA (n, e) or P-256 (crv, x, y); never a private member. */
export type PublicJwk =
  { kty: 'RSA'; n: string; e: string } | { kty: 'EC'; crv: 'P-256'; x: string; y: string };

/**
 * authentik's CertificateKeyPair (kp_uuid, name, created), reduced to what signing needs: Grantry has no
 * certificates, only key pairs. The private key (PKCS#8 DER) is stored sealed with SECRET_KEY (src/keys/sealing.ts),
 * bound to this row's kp_uuid; `kid` is the RFC 7638 JWK thumbprint of the public key.
 */
@Entity({ name: 'signing_keys' })
@Check('signing_keys_algorithm_check', `"algorithm" IN ('RS256', 'ES256')`)
export class SigningKeyEntity {
  @PrimaryColumn({ name: 'kp_uuid', type: 'uuid', primaryKeyConstraintName: 'signing_keys_pkey' })
  kpUuid!: string;

  @Index('signing_keys_name_key', { unique: true })
  @Column({ type: 'text' })
  name!: string;

  @Column({ type: 'varchar', length: 8 })
  algorithm!: SigningAlgorithm;

  @Index('signing_keys_kid_key', { unique: true })
  @Column({ type: 'text' })
  kid!: string;

  @Column({ name: 'public_jwk', type: 'jsonb' })
  publicJwk!: PublicJwk;

  /** Sealed PKCS#8 DER; opened only to sign. Never selected for listing or served. */
  @Column({ name: 'private_key_sealed', type: 'bytea', select: false })
  privateKeySealed!: Buffer;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  created!: Date;
}
