'use strict';

// The batching queue of the store-computations node, kept free of Node-RED
// so that its flush rules read in one place.

// Sequences whose last part never arrives (a Switch dropped it, a flow
// stopped) would otherwise be tracked forever.
const MAX_TRACKED_SEQUENCES = 1000;

/**
 * Collects entries `{items, msg, send, done}` and hands them to `write` in
 * batches. A batch is written when the queued items reach `batchSize`,
 * when the last part of a split sequence arrives, when `intervalMs` has
 * passed since the first queued entry (0 turns the timer off), and on
 * `flush()`. Writes run one at a time, in arrival order. `write` reports
 * its own failures; anything it throws goes to `onError`, so one failed
 * write does not stop the later ones.
 */
class BatchQueue {
  constructor({ batchSize, intervalMs, write, onError }) {
    this.batchSize = batchSize;
    this.intervalMs = intervalMs;
    this.write = write;
    this.onError = onError;
    this.pending = [];
    this.pendingItems = 0;
    this.timer = null;
    this.writing = Promise.resolve();
    this.sequences = new Map();
  }

  add(entry) {
    this.pending.push(entry);
    this.pendingItems += entry.items.length;
    const endsSequence = this.trackSequence(entry.msg.parts);
    if (this.pendingItems >= this.batchSize || endsSequence) {
      this.flush();
    } else {
      this.startTimer();
    }
  }

  /** Writes every queued entry; resolves when all writes so far are done. */
  flush() {
    this.stopTimer();
    if (this.pending.length > 0) {
      const entries = this.pending;
      this.pending = [];
      this.pendingItems = 0;
      this.writing = this.writing.then(() => this.write(entries)).catch(this.onError);
    }
    return this.writing;
  }

  startTimer() {
    if (this.timer || this.intervalMs <= 0) {
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.intervalMs);
  }

  stopTimer() {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /**
   * Counts the parts of each split sequence and returns true for the
   * message that ends one: the part with index count - 1, or the part that
   * makes the received count reach `parts.count` when parts arrive out of
   * order. A split of a stream sets `count` only on its last part.
   */
  trackSequence(parts) {
    if (!parts || parts.id === undefined) {
      return false;
    }
    const sequence = this.sequences.get(parts.id) || { received: 0, count: undefined };
    sequence.received += 1;
    if (Number.isInteger(parts.count)) {
      sequence.count = parts.count;
    }
    const isLast =
      sequence.count !== undefined && (parts.index === sequence.count - 1 || sequence.received >= sequence.count);
    if (isLast) {
      this.sequences.delete(parts.id);
      return true;
    }
    this.sequences.set(parts.id, sequence);
    if (this.sequences.size > MAX_TRACKED_SEQUENCES) {
      const oldest = this.sequences.keys().next().value;
      this.sequences.delete(oldest);
    }
    return false;
  }
}

module.exports = { BatchQueue };
