/**
 * The `numa-avatar` command. Each subcommand lives in its own module under cli/commands and
 * returns an exit code (cli/exit-codes.ts). The modules are loaded when their command runs, so
 * that `--version`, `--help` and each command load only what they need (the start of every
 * runner is the start of `task`).
 */
import { Command, CommanderError, Option } from 'commander';
import { AvatarError, describeError } from '../core/errors.ts';
import { VERSION } from '../core/version.ts';
import { EXIT } from './exit-codes.ts';

const EXIT_HELP = `
Exit codes:
  0    success (task: done)          2    task failed        3   task blocked
  1    unexpected error             64    usage error       69   backend unreachable or refused
  78   configuration error         130    interrupted twice`;

export async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.ok;
  const program = new Command('numa-avatar')
    .description('Executes Numa development tasks: clone, develop with an LLM agent, test, push, report.')
    .version(VERSION)
    .addHelpText('after', EXIT_HELP)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  const configOption = () =>
    new Option(
      '-c, --config <file>',
      'YAML config file (default: $NUMA_CONFIG, else <work_dir>/config.yaml if present)',
    );

  program
    .command('run')
    .description(
      'Run the avatar as a service: poll the task topic, run each task, serve /status (local mode).',
    )
    .addOption(configOption())
    .addHelpText(
      'after',
      '\nStops gracefully on SIGINT/SIGTERM: running tasks get limits.shutdown_grace seconds.' + EXIT_HELP,
    )
    .action(async (o: { config?: string }) => {
      const { runCommand } = await import('./commands/run.ts');
      code = await runCommand(o);
    });

  program
    .command('task')
    .description('Run one task now, in this process: clone, develop, test, push, report.')
    .argument('<task_id>', 'the task id in the Numa backend')
    .addOption(configOption())
    .option('--run-id <id>', 'run id (default: generated)')
    .option('--message <json>', 'the queue message that asked for this run (set by the dispatcher)')
    .option('-q, --quiet', 'do not print the task log lines')
    .addHelpText('after', EXIT_HELP)
    .action(
      async (taskId: string, o: { config?: string; runId?: string; message?: string; quiet?: boolean }) => {
        const { taskCommand } = await import('./commands/task.ts');
        code = await taskCommand(taskId, o);
      },
    );

  program
    .command('backend')
    .description('Start the reference Numa backend (for trying the avatar out and for tests).')
    .option('-p, --port <port>', 'port to listen on', '7301')
    .option('--host <host>', 'address to bind (loopback by default)', '127.0.0.1')
    .option('--data <file>', 'persist state to this JSON file (default: in memory)')
    .option('--token <token>', 'require this Bearer token (default: $NUMA_API_TOKEN, else none)')
    .addHelpText('after', EXIT_HELP)
    .action(async (o: { port: string; host: string; data?: string; token?: string }) => {
      const { backendCommand } = await import('./commands/backend.ts');
      code = await backendCommand(o);
    });

  program
    .command('demo')
    .description(
      'Run the whole pipeline end to end on this machine, with nothing to set up (offline unless OPENAI_API_KEY is set).',
    )
    .option('--keep', 'keep the demo work directory and print where it is')
    .addHelpText('after', EXIT_HELP)
    .action(async (o: { keep?: boolean }) => {
      const { demoCommand } = await import('./commands/demo.ts');
      code = await demoCommand(o);
    });

  program
    .command('rerun')
    .description(
      'Run a task again on the AWS deployment: sends {"task_id": ..., "reason": ...} to its task queue.',
    )
    .argument('<task_id>', 'the task id in the Numa backend')
    .option('--reason <text>', "why (shown in the task's logs)")
    .option('--queue-url <url>', 'the task queue (default: the QueueUrl output of the stack)')
    .option('--stack <name>', 'the CloudFormation stack to read the queue URL from', 'NumaAvatar')
    .option('--region <region>', "AWS region (default: AWS_REGION, the profile, or the queue URL's)")
    .addHelpText(
      'after',
      '\nPrints the SQS message id. AWS credentials come from the usual places (aws configure, AWS_PROFILE);\n' +
        'AWS_ENDPOINT_URL points it at an emulator. Exit codes: 0 sent, 64 usage, 69 SQS or CloudFormation\n' +
        'unreachable or refusing, 78 configuration error.',
    )
    .action(
      async (taskId: string, o: { reason?: string; queueUrl?: string; stack?: string; region?: string }) => {
        const { rerunCommand } = await import('./commands/rerun.ts');
        code = await rerunCommand(taskId, o);
      },
    );

  // The runner's entry in its Fargate container (container/runner/Dockerfile); not for people.
  program
    .command('runner-aws', { hidden: true })
    .description('Run the task named by NUMA_TASK_ID / NUMA_MESSAGE, artifacts in S3 (BUCKET), then exit.')
    .option('--check', 'load the runner, check that git and tar run, and exit (the image build runs this)')
    .action(async (o: { check?: boolean }) => {
      const runner = await import('../container/runner/aws-main.ts');
      if (o.check) code = await runner.checkRunnerImage();
      else await runner.main();
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    return reportError(err);
  }
}

/** Prints an error for a person and maps it to an exit code. */
export function reportError(err: unknown): number {
  process.stderr.write(`numa-avatar: ${describeError(err)}\n`);
  if (err instanceof AvatarError) {
    if (err.code === 'CONFIG_INVALID' || err.code === 'CONFIG_NOT_FOUND') return EXIT.config;
    if (err.code === 'USAGE') return EXIT.usage;
    if (err.code.startsWith('BACKEND_') || err.code === 'QUEUE_IO' || err.code === 'SANDBOX_UNAVAILABLE')
      return EXIT.unavailable;
  }
  if (!(err instanceof AvatarError) && err instanceof Error && err.stack)
    process.stderr.write(err.stack + '\n');
  return EXIT.error;
}
