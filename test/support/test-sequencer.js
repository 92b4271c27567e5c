// Plain CommonJS: Jest loads a test sequencer with Node's require, without its transform.
const path = require('node:path');
const Sequencer = require('@jest/test-sequencer').default;

/** mulberry32: a small seeded generator, enough for an order that can be replayed. */
function generator(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The files in a Fisher-Yates shuffle driven by `seed`, starting from one fixed order (sorted by path). */
function shuffled(tests, seed) {
  const next = generator(seed);
  const order = [...tests].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (let i = order.length - 1; i > 0; i -= 1) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/**
 * Jest's order (failed first, then slowest first), or with `--randomize` the files in a shuffle seeded by Jest's own
 * seed (`--seed=N`, otherwise one Jest picks), which also shuffles the tests within each file. The seed, the order
 * and the command that replays it are printed, so an order-dependent failure can be reproduced.
 */
class ShufflingSequencer extends Sequencer {
  constructor(options) {
    super(options);
    this.globalConfig = options.globalConfig;
  }

  sort(tests) {
    const { randomize, seed } = this.globalConfig;
    if (!randomize) return super.sort(tests);
    const order = shuffled(tests, seed);
    process.stderr.write(
      `Test files shuffled with seed ${seed}; replay this order (same files) with: ` +
        `npx jest --runInBand --randomize --seed=${seed}\n` +
        order.map((test, index) => `  ${index + 1}. ${path.relative(process.cwd(), test.path)}\n`).join(''),
    );
    return order;
  }
}

module.exports = ShufflingSequencer;
module.exports.shuffled = shuffled;
