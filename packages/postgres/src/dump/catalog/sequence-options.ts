/** One pg_sequence row, read with its numbers as text (int8 would lose precision as JS numbers). */
export interface SequenceParameters {
  seqtype: string;
  seqstart: string;
  seqincrement: string;
  seqmin: string;
  seqmax: string;
  seqcache: string;
  seqcycle: boolean;
}

/** The columns of pg_sequence `s` (joined as `s`) that sequenceOptions needs. */
export const SEQUENCE_COLUMNS = `pg_catalog.format_type(s.seqtypid, NULL) AS seqtype, s.seqstart::text AS seqstart,
  s.seqincrement::text AS seqincrement, s.seqmin::text AS seqmin, s.seqmax::text AS seqmax,
  s.seqcache::text AS seqcache, s.seqcycle`;

/** `START WITH 1 INCREMENT BY 1 MINVALUE 1 MAXVALUE ... CACHE 1 NO CYCLE`, always explicit. */
export function sequenceOptions(sequence: SequenceParameters): string {
  return [
    `START WITH ${sequence.seqstart}`,
    `INCREMENT BY ${sequence.seqincrement}`,
    `MINVALUE ${sequence.seqmin}`,
    `MAXVALUE ${sequence.seqmax}`,
    `CACHE ${sequence.seqcache}`,
    sequence.seqcycle ? 'CYCLE' : 'NO CYCLE',
  ].join(' ');
}
