/** `hoody tokens …`, `hoody projects …`, `hoody users …`: who may call, and what they own. */
import { Command } from 'commander';
import type { Project, Token, User } from '../sdk/index.ts';
import { clientFor } from './context.ts';
import { jsonOption, print, printJson, renderFields, renderTable, yesNo, type Column } from './output.ts';
import { withSpinner } from './spinner.ts';

const TOKEN_COLUMNS: Column<Token>[] = [
  { header: 'ID', value: (t) => t.id },
  { header: 'NAME', value: (t) => t.name },
  { header: 'USER', value: (t) => t.user_id },
  { header: 'READ-ONLY', value: (t) => yesNo(t.read_only) },
  { header: 'AUTOMATION', value: (t) => yesNo(t.automation) },
  { header: 'CREATED', value: (t) => t.created_at },
];
const PROJECT_COLUMNS: Column<Project>[] = [
  { header: 'ID', value: (p) => p.id },
  { header: 'NAME', value: (p) => p.name },
  { header: 'OWNER', value: (p) => p.owner_id },
  { header: 'CREATED', value: (p) => p.created_at },
];
const USER_COLUMNS: Column<User>[] = [
  { header: 'ID', value: (u) => u.id },
  { header: 'NAME', value: (u) => u.name },
  { header: 'ADMIN', value: (u) => yesNo(u.is_admin) },
  { header: 'CREATED', value: (u) => u.created_at },
];

export function tokensCommand(): Command {
  const tokens = new Command('tokens').alias('token').description('bearer tokens: create, list, revoke');

  tokens
    .command('create')
    .description('create a token; its secret is printed once')
    .requiredOption('--name <name>', 'a name to recognise it by (an automation token\'s name is kept in status logs; system actor names, admin and user_… are reserved)')
    .option('--read-only', 'may read but not change anything')
    .option('--automation', 'status logs keep the token name (metadata.token) next to its user\'s id')
    .option('--user <userId>', 'the user it acts for (admin only; default: yourself)')
    .addOption(jsonOption())
    .action(async (opts: { name: string; readOnly?: boolean; automation?: boolean; user?: string; json?: boolean }, cmd: Command) => {
      const res = await withSpinner('creating token', clientFor(cmd).api.tokens.create({
        name: opts.name,
        ...(opts.user ? { user_id: opts.user } : {}),
        ...(opts.readOnly ? { read_only: true } : {}),
        ...(opts.automation ? { automation: true } : {}),
      }));
      if (opts.json) return printJson(res.data);
      const t = res.data;
      print(renderFields([
        ['id', t.id],
        ['name', t.name],
        ['user', t.user_id],
        ['read-only', yesNo(t.read_only)],
        ['automation', yesNo(t.automation)],
        ['token', t.token],
      ]));
      process.stderr.write('keep the token now: it is not shown again\n');
    });

  tokens
    .command('list')
    .alias('ls')
    .description('list tokens (an admin sees all of them); secrets are never shown')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const res = await withSpinner('listing tokens', clientFor(cmd).api.tokens.list());
      if (opts.json) return printJson(res.data);
      print(renderTable(res.data.tokens, TOKEN_COLUMNS));
    });

  tokens
    .command('delete')
    .alias('revoke')
    .description('revoke a token: it stops working at once')
    .argument('<id>', 'token id')
    .addOption(jsonOption())
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const res = await withSpinner('revoking token', clientFor(cmd).api.tokens.delete(id));
      if (opts.json) return printJson(res.data);
      print(`${res.message}: ${res.data.token_id}`);
    });

  return tokens;
}

export function projectsCommand(): Command {
  const projects = new Command('projects').alias('project').description('your projects');

  projects
    .command('list')
    .alias('ls')
    .description('list your projects')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const res = await withSpinner('listing projects', clientFor(cmd).api.projects.list());
      if (opts.json) return printJson(res.data);
      print(renderTable(res.data.projects, PROJECT_COLUMNS));
    });

  projects
    .command('create')
    .description('create a project')
    .argument('[name]', 'project name (or --name)')
    .option('--name <name>', 'project name')
    .addOption(jsonOption())
    .action(async (positional: string | undefined, opts: { name?: string; json?: boolean }, cmd: Command) => {
      const name = opts.name ?? positional;
      if (!name) cmd.error('error: give the project a name: hoody projects create --name NAME', { exitCode: 2, code: 'hoody.usage' });
      const res = await withSpinner('creating project', clientFor(cmd).api.projects.create({ name }));
      if (opts.json) return printJson(res.data);
      print(`${res.message}\n${renderFields([['id', res.data.id], ['name', res.data.name], ['owner', res.data.owner_id], ['created', res.data.created_at]])}`);
    });

  return projects;
}

export function usersCommand(): Command {
  const users = new Command('users').alias('user').description('users (admin tokens only)');

  users
    .command('list')
    .alias('ls')
    .description('list users')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const res = await withSpinner('listing users', clientFor(cmd).api.users.list());
      if (opts.json) return printJson(res.data);
      print(renderTable(res.data.users, USER_COLUMNS));
    });

  users
    .command('create')
    .description('create a user (then give them a token: hoody tokens create --user ID --name NAME)')
    .requiredOption('--name <name>', 'user name')
    .addOption(jsonOption())
    .action(async (opts: { name: string; json?: boolean }, cmd: Command) => {
      const res = await withSpinner('creating user', clientFor(cmd).api.users.create({ name: opts.name }));
      if (opts.json) return printJson(res.data);
      print(`${res.message}\n${renderFields([['id', res.data.id], ['name', res.data.name], ['admin', yesNo(res.data.is_admin)]])}`);
    });

  return users;
}
