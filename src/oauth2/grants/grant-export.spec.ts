import { ValidationApiError } from '../../common/errors/api-error';
import { csvCell, parseExportFormat } from './grant-export';

describe('csvCell', () => {
  it('quotes text, doubles quotes, leaves numbers, booleans and null bare', () => {
    expect(csvCell('a,b "c"\r\nd')).toBe('"a,b ""c""\r\nd"');
    expect(csvCell('')).toBe('""');
    expect(csvCell(null)).toBe('');
    expect(csvCell(42)).toBe('42');
    expect(csvCell(false)).toBe('false');
  });

  it("defuses what a spreadsheet would run (OWASP CSV injection) with a leading '", () => {
    expect(['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx'].map(csvCell)).toEqual([
      `"'=1+1"`,
      `"'+1"`,
      `"'-1"`,
      `"'@SUM(A1)"`,
      `"'\tx"`,
      `"'\rx"`,
    ]);
    expect(csvCell('a=1')).toBe('"a=1"');
  });
});

describe('parseExportFormat', () => {
  it('defaults to ndjson and accepts the two formats', () => {
    expect(
      [{}, { format: '' }, { format: 'csv' }, { format: ['csv', 'ndjson'] }].map(parseExportFormat),
    ).toEqual(['ndjson', 'ndjson', 'csv', 'ndjson']);
  });

  it('names the parameter of anything else', () => {
    const error = (() => {
      try {
        parseExportFormat({ format: 'x'.repeat(50) });
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ValidationApiError);
    expect((error as ValidationApiError).errors).toEqual({
      format: [`"${'x'.repeat(40)}…" is not a valid choice.`],
    });
  });
});
