import { PeriodicTask } from './background-jobs';

describe('PeriodicTask', () => {
  it('runs one at a time: a call while a run is in flight gets that run', async () => {
    let release: (value: number) => void = () => undefined;
    let runs = 0;
    const task = new PeriodicTask(
      'test task',
      () => {
        runs += 1;
        return new Promise<number>((resolve) => (release = resolve));
      },
      { debug: () => undefined },
    );
    const first = task.runOnce<number>();
    const second = task.runOnce<number>();
    release(7);
    expect(await Promise.all([first, second])).toEqual([7, 7]);
    expect(runs).toBe(1);
    release = () => undefined;
    const third = task.runOnce<number>();
    release(8);
    expect(await third).toBe(8);
    expect(runs).toBe(2);
  });

  it('logs a failed tick at debug and tries again at the next one; stop() waits for the run in flight', async () => {
    const logged: string[] = [];
    let runs = 0;
    let finished = false;
    const task = new PeriodicTask(
      'test task',
      async () => {
        runs += 1;
        if (runs === 1) throw new Error('database away');
        await new Promise((resolve) => setTimeout(resolve, 30));
        finished = true;
      },
      { debug: (message) => logged.push(message) },
    );
    task.start(10);
    const deadline = Date.now() + 5000;
    while (runs < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    await task.stop();
    expect(logged).toEqual(['test task failed: database away']);
    expect({ runs: runs >= 2, finished }).toEqual({ runs: true, finished: true });
  });

  it('does not start with an interval of 0', async () => {
    let runs = 0;
    const task = new PeriodicTask('test task', () => Promise.resolve((runs += 1)), {
      debug: () => undefined,
    });
    task.start(0);
    await new Promise((resolve) => setTimeout(resolve, 30));
    await task.stop();
    expect(runs).toBe(0);
  });
});
