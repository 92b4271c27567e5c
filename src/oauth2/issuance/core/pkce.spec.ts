import { s256, verifierMatches } from './pkce';

describe('PKCE', () => {
  // RFC 7636 Appendix B.
  const verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
  const challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

  it('computes the RFC 7636 example challenge', () => {
    expect(s256(verifier)).toBe(challenge);
  });

  it('S256: the right verifier matches; a wrong one, the challenge itself, or an empty one does not', () => {
    expect(verifierMatches(challenge, 'S256', verifier)).toBe(true);
    expect(verifierMatches(challenge, 'S256', `${verifier}x`)).toBe(false);
    expect(verifierMatches(challenge, 'S256', challenge)).toBe(false);
    expect(verifierMatches(challenge, 'S256', '')).toBe(false);
  });

  it('plain: equality only', () => {
    expect(verifierMatches(verifier, 'plain', verifier)).toBe(true);
    expect(verifierMatches(verifier, 'plain', verifier.slice(0, -1))).toBe(false);
    expect(verifierMatches(verifier, 'plain', `${verifier.slice(0, -1)}z`)).toBe(false);
    expect(verifierMatches(challenge, 'plain', verifier)).toBe(false);
  });
});
