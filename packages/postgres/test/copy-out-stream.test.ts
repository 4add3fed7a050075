import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { CopyOutStream } from '../src/dump/copy-out-stream.js';

/** One protocol message: code byte, Int32 length (counting itself), body. */
function message(code: string, body: string | Buffer): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const header = Buffer.alloc(5);
  header.write(code, 0, 'latin1');
  header.writeUInt32BE(bytes.length + 4, 1);
  return Buffer.concat([header, bytes]);
}

const rows = [
  '1\talpha\n',
  '2\tbeta with a longer text\\nand an escaped newline\n',
  '3\t\\N\n',
  `4\t${'x'.repeat(3000)}\n`,
];
const afterCopy = Buffer.concat([message('C', 'COPY 4\0'), message('Z', 'I')]);

/**
 * A server's reply fed in reads of `size` bytes to a socket that "pg" (a data listener collecting what
 * it is given) reads outside the COPY: the rows must come out whole and the bytes after the COPY must
 * reach pg, whatever the read boundaries cut (a header, a row, the CopyDone).
 */
async function replay(reply: Buffer, size: number) {
  const socket = new PassThrough();
  const toPg: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => toPg.push(Buffer.from(chunk)));
  const sent: string[] = [];
  const stream = new CopyOutStream('COPY t TO STDOUT');
  stream.submit({ stream: socket, query: (text) => sent.push(text) });
  for (let at = 0; at < reply.length; at += size) socket.write(Buffer.from(reply.subarray(at, at + size)));
  const out: Buffer[] = [];
  await pipeline(
    stream,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        out.push(chunk);
        callback();
      },
    }),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return { sent, rows: Buffer.concat(out).toString(), toPg: Buffer.concat(toPg) };
}

describe('CopyOutStream: COPY TO STDOUT rows from the protocol, the rest back to pg', () => {
  const reply = Buffer.concat([
    message('H', Buffer.from([0, 0, 2, 0, 0, 0, 0])),
    message('d', rows[0] as string),
    message('N', 'SNOTICE\0Msomething\0\0'),
    ...rows.slice(1).map((row) => message('d', row)),
    message('c', ''),
    afterCopy,
  ]);

  for (const size of [1, 2, 3, 4, 5, 6, 7, 13, 64, 4096, reply.length]) {
    it(`reads of ${size} byte(s): the rows in order, notices left out, CommandComplete and ReadyForQuery to pg`, async () => {
      const result = await replay(reply, size);
      expect(result.sent).toEqual(['COPY t TO STDOUT']);
      expect(result.rows).toBe(rows.join(''));
      expect(result.toPg.equals(afterCopy)).toBe(true);
    });
  }

  it('an ErrorResponse in the middle: pg gets the error and what follows, the stream fails with what pg reports', async () => {
    const error = Buffer.concat([
      message('E', 'SERROR\0C57014\0Mcanceling statement\0\0'),
      message('Z', 'I'),
    ]);
    const socket = new PassThrough();
    const toPg: Buffer[] = [];
    const stream = new CopyOutStream('COPY t TO STDOUT');
    socket.on('data', (chunk: Buffer) => {
      toPg.push(Buffer.from(chunk));
      // What pg does once it has parsed the ErrorResponse.
      if (Buffer.concat(toPg).equals(error)) stream.handleError(new Error('canceling statement'));
    });
    stream.submit({ stream: socket, query: () => {} });
    socket.write(Buffer.concat([message('H', Buffer.alloc(3)), message('d', rows[0] as string), error]));
    const reading = pipeline(stream, new Writable({ write: (_chunk, _encoding, callback) => callback() }));
    await expect(reading).rejects.toThrow('canceling statement');
    expect(Buffer.concat(toPg).equals(error)).toBe(true);
  });
});
