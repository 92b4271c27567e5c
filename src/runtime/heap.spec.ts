import { applyHeapGrowingPercent } from './heap';

describe('applyHeapGrowingPercent', () => {
  it("sets V8's --heap-growing-percent to the configured value", () => {
    const set = jest.fn();
    applyHeapGrowingPercent(50, set);
    expect(set).toHaveBeenCalledWith('--heap-growing-percent=50');
  });

  it("leaves V8's heuristic alone at 0", () => {
    const set = jest.fn();
    applyHeapGrowingPercent(0, set);
    expect(set).not.toHaveBeenCalled();
  });
});
