import { crc32 } from "./_crc32.ts";

const JOURNAL_MAGIC = "VKDJRNL1";
const HEAD_BYTES = 16;
const ENTRY_BYTES = 12;

/** One finished chunk as the journal records it. */
export interface JournalEntry {
  /** Global chunk number. */
  chunk: number;
  /** CRC-32 of the chunk's bytes. */
  crc: number;
}

/**
 * The append-only record of chunks a precompute run has durably written to
 * its partial file. Each entry carries its own checksum, so an entry torn by
 * a crash is recognised and ignored (its chunk is simply computed again).
 * The head binds the journal to the partial file's header.
 */
export class Journal {
  #file: Deno.FsFile;
  #count: number;
  /** The valid entries found when the journal was opened. */
  readonly entries: JournalEntry[];

  private constructor(file: Deno.FsFile, entries: JournalEntry[]) {
    this.#file = file;
    this.entries = entries;
    this.#count = entries.length;
  }

  /**
   * Opens (or creates) the journal at `path` for a partial file whose header
   * block is `headerBlock`; with `fresh`, or when the journal belongs to
   * another header, earlier entries are dropped.
   */
  static open(path: string, headerBlock: Uint8Array, fresh: boolean): Journal {
    const file = Deno.openSync(path, { read: true, write: true, create: true });
    const bound = crc32(headerBlock);
    let bytes = new Uint8Array(0);
    if (!fresh) {
      try {
        bytes = Deno.readFileSync(path);
      } catch {
        // An unreadable journal counts as empty: its chunks are computed
        // again, which costs time but never gives wrong logits.
        bytes = new Uint8Array(0);
      }
    }
    const entries: JournalEntry[] = [];
    const headValid = bytes.length >= HEAD_BYTES &&
      new TextDecoder().decode(bytes.subarray(0, 8)) === JOURNAL_MAGIC &&
      view(bytes).getUint32(8, true) === bound &&
      view(bytes).getUint32(12, true) === crc32(bytes.subarray(0, 12));
    if (headValid) {
      for (
        let o = HEAD_BYTES;
        o + ENTRY_BYTES <= bytes.length;
        o += ENTRY_BYTES
      ) {
        const v = view(bytes);
        if (v.getUint32(o + 8, true) !== crc32(bytes.subarray(o, o + 8))) break;
        entries.push({
          chunk: v.getUint32(o, true),
          crc: v.getUint32(o + 4, true),
        });
      }
    } else {
      const head = new Uint8Array(HEAD_BYTES);
      head.set(new TextEncoder().encode(JOURNAL_MAGIC));
      view(head).setUint32(8, bound, true);
      view(head).setUint32(12, crc32(head.subarray(0, 12)), true);
      file.truncateSync(0);
      writeAllSync(file, 0, head);
      file.syncDataSync();
    }
    return new Journal(file, entries);
  }

  /** Durably records that `chunk` is written with checksum `crc`. */
  append(chunk: number, crc: number): void {
    const entry = new Uint8Array(ENTRY_BYTES);
    const v = view(entry);
    v.setUint32(0, chunk, true);
    v.setUint32(4, crc, true);
    v.setUint32(8, crc32(entry.subarray(0, 8)), true);
    // Overwrites a torn tail, if the last run left one.
    writeAllSync(this.#file, HEAD_BYTES + this.#count * ENTRY_BYTES, entry);
    this.#file.syncDataSync();
    this.#count++;
  }

  /** Closes the journal file. */
  close(): void {
    this.#file.close();
  }
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function writeAllSync(
  file: Deno.FsFile,
  offset: number,
  bytes: Uint8Array,
): void {
  file.seekSync(offset, Deno.SeekMode.Start);
  let written = 0;
  while (written < bytes.length) {
    written += file.writeSync(bytes.subarray(written));
  }
}
