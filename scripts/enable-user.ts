import { runScript } from './create-user';
import { enableUser } from './disable-user';

/** `npm run enable-user`: see scripts/disable-user.ts. */
if (require.main === module) runScript(enableUser, 'enable-user');
