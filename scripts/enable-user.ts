import { enableUser, main } from './disable-user';

/** `npm run enable-user`: see scripts/disable-user.ts. */
if (require.main === module) main(enableUser, 'enable-user');
