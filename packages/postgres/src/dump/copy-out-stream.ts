import { Readable } from 'node:stream';

/** Protocol message codes (PostgreSQL docs, "Message Formats") a COPY TO STDOUT reply may hold. */
const COPY_DATA = 0x64; // d
const COPY_DONE = 0x63; // c
const ERROR_RESPONSE = 0x45; // E
/** A message's code byte and its Int32 length (which counts itself, not the code). */
const HEADER_BYTES = 5;

/** What pg hands a custom query (pg's "submittable"): its connection, with the socket as `stream`. */
export interface PgConnection {
  stream: Readable;
  query(text: string): void;
}

/**
 * `COPY ... TO STDOUT` as a byte stream of the server's COPY text, for pg's `client.query()`. The same
 * protocol handling as pg-copy-streams' `to` (it takes the socket's reads from pg for the COPY and
 * gives them back, with the unread bytes, at CopyDone or at an ErrorResponse, which pg then reports),
 * without its cost per row: the server sends one CopyData message per row, and pg-copy-streams makes a
 * Buffer slice of each and joins them again. Here each socket read is compacted in place (the 5-byte
 * headers cut out by moving the rows' bytes left, `copyWithin`, nothing allocated per row) and pushed
 * as one chunk: on 490 MB of rows, 1.15-1.36 -> 0.86-0.89 s of main-thread time (bench/README.md,
 * round 5). The socket's read buffers are this stream's alone while it holds the reads.
 */
export class CopyOutStream extends Readable {
  private connection: PgConnection | undefined;
  private pgDataHandler: ((chunk: Buffer) => void) | undefined;
  /** The start of a message whose header (code and length) has not fully arrived. */
  private partialHeader: Buffer | undefined;
  /** Bytes still to come of the message being read, and whether they are row data. */
  private messageLeft = 0;
  private messageIsData = false;
  private wantsMore = false;
  private forwarding = false;
  private finished = false;

  constructor(private readonly text: string) {
    super({ highWaterMark: 1024 * 1024 });
  }

  /** Called by pg when the query's turn comes: takes the socket's reads over, then sends the statement. */
  submit(connection: PgConnection): void {
    this.connection = connection;
    const socket = connection.stream;
    const [handler, ...others] = socket.listeners('data') as ((chunk: Buffer) => void)[];
    if (handler === undefined || others.length > 0) {
      throw new Error(`expected pg's one socket data listener, found ${others.length + (handler ? 1 : 0)}`);
    }
    this.pgDataHandler = handler;
    socket.removeListener('data', handler);
    socket.pause();
    socket.on('readable', this.onReadable);
    connection.query(this.text);
  }

  override _read(): void {
    this.wantsMore = true;
    this.forward();
  }

  /** pg reports the ErrorResponse handed back to it (or a lost connection) here. */
  handleError(error: Error): void {
    this.destroy(error);
  }

  handleCommandComplete(): void {}

  handleReadyForQuery(): void {}

  private readonly onReadable = (): void => this.forward();

  private forward(): void {
    if (this.forwarding || !this.wantsMore || this.connection === undefined || this.finished) return;
    this.forwarding = true;
    const socket = this.connection.stream;
    for (let read = socket.read() as Buffer | null; read !== null; read = socket.read() as Buffer | null) {
      this.wantsMore = this.parse(read);
      if (!this.wantsMore || this.finished) break;
    }
    this.forwarding = false;
  }

  /** Compacts one socket read's row bytes to its front and pushes them; false when the reader is full. */
  private parse(read: Buffer): boolean {
    const chunk = this.partialHeader === undefined ? read : Buffer.concat([this.partialHeader, read]);
    this.partialHeader = undefined;
    let at = 0;
    let out = 0;
    while (at < chunk.length) {
      if (this.messageLeft > 0) {
        const end = Math.min(chunk.length, at + this.messageLeft);
        if (this.messageIsData) {
          if (out !== at) chunk.copyWithin(out, at, end);
          out += end - at;
        }
        this.messageLeft -= end - at;
        at = end;
        continue;
      }
      if (chunk.length - at < HEADER_BYTES) {
        this.partialHeader = Buffer.from(chunk.subarray(at));
        break;
      }
      const code = chunk[at];
      if (code === ERROR_RESPONSE) {
        // pg parses the error and calls handleError; the rows before it are of no use.
        this.giveBack(chunk.subarray(at));
        return false;
      }
      const length = chunk.readUInt32BE(at + 1) - 4;
      at += HEADER_BYTES;
      if (code === COPY_DONE) {
        if (out > 0) this.push(chunk.subarray(0, out));
        // CommandComplete and ReadyForQuery follow: pg handles them, and the query ends.
        this.giveBack(chunk.subarray(at + length));
        this.push(null);
        return false;
      }
      // CopyOutResponse first, then CopyData; notices and parameter changes may come between.
      this.messageIsData = code === COPY_DATA;
      this.messageLeft = length;
    }
    return out > 0 ? this.push(chunk.subarray(0, out)) : true;
  }

  /** Gives the socket's reads back to pg, with the bytes after the COPY, as if pg had read them all along. */
  private giveBack(unread: Buffer): void {
    this.finished = true;
    const socket = (this.connection as PgConnection).stream;
    const handler = this.pgDataHandler as (chunk: Buffer) => void;
    socket.removeListener('readable', this.onReadable);
    socket.addListener('data', handler);
    if (unread.length > 0) handler(unread);
    // The socket was paused by hand: a data listener alone does not make it flow again.
    process.nextTick(() => socket.resume());
  }
}
