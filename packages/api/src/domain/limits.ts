import { AfmError } from '@afm/shared/errors';

/** task_data and task_result are bounded (TASK_DATA_LIMIT, RESULT_LIMIT), counted as JSON bytes. */
export function assertSize(field: string, value: unknown, limit: number): void {
  const size = Buffer.byteLength(JSON.stringify(value) ?? '');
  if (size > limit) throw new AfmError('AFM_ERR_PAYLOAD_TOO_LARGE', `${field}: ${size} bytes of JSON, more than the ${limit} allowed`);
}
