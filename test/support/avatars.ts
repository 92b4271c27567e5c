/**
 * The `initials` avatar written out by hand, for oracles that must not call the product's initialsAvatar(): a 64×64
 * SVG circle in `fill` with the initials in white, as a base64 data URI. Each caller states the initials and the
 * colour it expects for a fixed name (the colour is the palette entry chosen by the first byte of sha256(name) mod 10,
 * worked out once when the fixture was written, not at run time).
 */
export function initialsAvatarOf(initials: string, fill: string): string {
  const svg =
    '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">' +
    `<circle cx="32" cy="32" r="32" fill="${fill}"/>` +
    '<text x="50%" y="50%" dy=".35em" fill="#ffffff" font-family="sans-serif" font-size="28" text-anchor="middle">' +
    `${initials}</text></svg>`;
  return `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`;
}
