/**
 * Questions on the terminal (or on piped stdin) for `xmpp-cert setup`: one line per answer, an
 * empty line takes the default shown in brackets. Lines are read through readline's async
 * iterator, which buffers them, so answers piped in all at once are not lost between questions.
 * Running out of input is an error (never a silent default). It knows nothing about configs.
 */
import readline from 'node:readline';
import { ConfigError } from '../../shared/errors';

export interface Prompter {
  /** Asks until `check` accepts the answer (it returns an error text to ask again). */
  ask(question: string, defaultValue?: string, check?: (answer: string) => string | undefined): Promise<string>;
  yesNo(question: string, defaultValue: boolean): Promise<boolean>;
  close(): void;
}

export function createPrompter(input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Prompter {
  const rl = readline.createInterface({ input, output, terminal: false });
  const lines = rl[Symbol.asyncIterator]();

  const readLine = async (question: string): Promise<string> => {
    output.write(question);
    const next = await lines.next();
    if (next.done) {
      output.write('\n');
      throw new ConfigError(`the input ended before "${question.trim()}" was answered (use --yes and flags to run without questions)`);
    }
    const answer = String(next.value).trim();
    // A terminal echoes what is typed; piped answers are echoed here so the transcript reads right.
    if (!(input as { isTTY?: boolean }).isTTY) output.write(`${answer}\n`);
    return answer;
  };

  const prompter: Prompter = {
    async ask(question, defaultValue, check) {
      for (;;) {
        const answer = (await readLine(`${question}${defaultValue ? ` [${defaultValue}]` : ''}: `)) || defaultValue || '';
        const problem = check?.(answer);
        if (problem === undefined) return answer;
        output.write(`  ${problem}\n`);
      }
    },
    async yesNo(question, defaultValue) {
      const answer = await prompter.ask(`${question} (y/n)`, defaultValue ? 'y' : 'n', (a) => (/^(y|yes|n|no)$/i.test(a) ? undefined : 'answer y or n'));
      return /^y/i.test(answer);
    },
    close: () => rl.close(),
  };
  return prompter;
}
