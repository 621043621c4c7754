import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { SessionTable } from './session-table';

/** Properties of {@link HybridAuthStack}. */
export interface HybridAuthStackProps extends StackProps {
  /** Regions that hold a replica of the session table. @default [] */
  readonly replicaRegions?: readonly string[];
}

/**
 * One region's share of the platform. It composes constructs and holds no logic; today it holds the session
 * table, and the issuer, authorizer, API, keys and alarms join it as their issues land.
 */
export class HybridAuthStack extends Stack {
  public readonly sessions: SessionTable;

  public constructor(scope: Construct, id: string, props: HybridAuthStackProps = {}) {
    super(scope, id, props);
    this.sessions = new SessionTable(this, 'Sessions', { replicaRegions: props.replicaRegions ?? [] });
  }
}
