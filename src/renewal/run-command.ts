/**
 * Runs one external program (no shell) with an environment, optional standard input and a
 * timeout, and reports how it ended as data: exit code, the tail of its output, a timeout, or why
 * it could not start (ENOENT: not installed). It never rejects. Used by the run hooks (hooks.ts)
 * and the RFC 2136 responder (nsupdate). It does not log or decide what a failure means.
 */
import { spawn } from 'node:child_process';

export interface CommandResult {
  /** 0 on success; null when killed or never started. */
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Set when the program could not be started (spawn's error). */
  startError?: NodeJS.ErrnoException;
}

export interface CommandOptions {
  env?: NodeJS.ProcessEnv;
  /** Written to standard input, which is then closed (a secret goes here, never in argv). */
  input?: string;
  timeoutMs: number;
}

const MAX_OUTPUT = 64 * 1024;

export function runCommand(argv: readonly string[], options: CommandOptions): Promise<CommandResult> {
  const [file, ...args] = argv;
  return new Promise((resolve) => {
    const result: CommandResult = { code: null, stdout: '', stderr: '', timedOut: false };
    const child = spawn(file ?? '', args, { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const keep = (key: 'stdout' | 'stderr') => (d: Buffer) => {
      result[key] = (result[key] + d.toString()).slice(-MAX_OUTPUT);
    };
    child.stdout.on('data', keep('stdout'));
    child.stderr.on('data', keep('stderr'));
    const timer = setTimeout(() => {
      result.timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      result.startError = err;
      resolve(result);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      result.code = code;
      resolve(result);
    });
    // A program that exits without reading its input must not crash us with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** How a failed run ended, for an error message: "exited with 2: <last lines of stderr>". */
export function describeFailure(result: CommandResult, timeoutMs: number): string {
  if (result.startError) return `could not be started (${result.startError.code ?? result.startError.message})`;
  if (result.timedOut) return `timed out after ${timeoutMs / 1000} s`;
  const tail = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-3).join(' | ');
  return `exited with ${result.code}${tail ? `: ${tail}` : ''}`;
}
