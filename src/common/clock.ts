import { Injectable } from '@nestjs/common';

/** The time, injectable so that time-based rules (deadlines, expiry) can be tested with a clock the test moves. */
export abstract class Clock {
  /** Epoch milliseconds. */
  abstract now(): number;
}

/** The machine's clock. */
@Injectable()
export class SystemClock extends Clock {
  now(): number {
    return Date.now();
  }
}
