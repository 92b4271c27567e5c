import http from 'node:http';
import { memoryOf, type Server } from './procs';

export interface ExportRun {
  format: 'ndjson' | 'csv';
  rows: number;
  bytes: number;
  seconds: number;
  /** Milliseconds from the request to the first byte of the body. */
  firstByteMs: number;
  /** Highest VmRSS sampled during this export. */
  peakRss: number;
}

/**
 * One export of every access token (as a superuser), read as fast as the client can: rows are counted by line ends
 * (less the CSV header), nothing is kept. VmRSS is sampled every 100 ms while it runs.
 */
export function exportRun(server: Server, key: string, format: 'ndjson' | 'csv'): Promise<ExportRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let firstByteMs = -1;
    let bytes = 0;
    let lines = 0;
    let peakRss = memoryOf(server.pid).rss;
    const timer = setInterval(() => {
      peakRss = Math.max(peakRss, memoryOf(server.pid).rss);
    }, 100);
    const request = http.get(
      `${server.url}/api/v3/oauth2/access_tokens/export/?format=${format}`,
      { headers: { authorization: `Bearer ${key}` } },
      (response) => {
        if (response.statusCode !== 200) {
          clearInterval(timer);
          response.resume();
          reject(new Error(`export answered ${response.statusCode}`));
          return;
        }
        response.on('data', (chunk: Buffer) => {
          if (firstByteMs < 0) firstByteMs = performance.now() - started;
          bytes += chunk.length;
          for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines += 1;
        });
        response.on('end', () => {
          clearInterval(timer);
          if (!response.complete) {
            reject(new Error(`export cut after ${bytes} bytes`));
            return;
          }
          resolve({
            format,
            rows: format === 'csv' ? lines - 1 : lines,
            bytes,
            seconds: (performance.now() - started) / 1000,
            firstByteMs,
            peakRss: Math.max(peakRss, memoryOf(server.pid).rss),
          });
        });
        response.on('error', (error) => {
          clearInterval(timer);
          reject(error);
        });
      },
    );
    request.on('error', (error) => {
      clearInterval(timer);
      reject(error);
    });
  });
}
