import { benchColdStart } from './bench/cold-start';
import { startBenchDynamo } from './bench/dynamo';
import { printTable } from './bench/harness';

(async () => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  process.env.CDK_DISABLE_VERSION_CHECK = '1';
  const d = await startBenchDynamo();
  try {
    printTable(await benchColdStart(d, { rounds: Number(process.env.ROUNDS ?? 8) }));
  } finally {
    await d.stop();
  }
})();
