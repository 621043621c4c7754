import { Annotations, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import { AuthAlarms } from './auth-alarms';
import { AuthApi } from './auth-api';
import { addBackends } from './backends';
import type { HybridAuthConfig } from './config';
import { IssuerDomain } from './issuer-domain';
import { SessionTable } from './session-table';
import { SigningKeys } from './signing-keys';
import { TokenAuthorizer, TokenIssuer } from './token-functions';

/** The API stage every region deploys. */
const STAGE_NAME = 'v1';

/** Properties of {@link HybridAuthStack}. */
export interface HybridAuthStackProps extends StackProps {
  /** The validated configuration (lib/config.ts). */
  readonly config: HybridAuthConfig;
  /** The region this stack deploys to: the primary or one of the replica regions. */
  readonly region: string;
}

/**
 * One region's share of the platform. It composes constructs and holds no logic. The primary region's stack
 * owns the global table (with a replica in every other region) and the signing-keys secret with its
 * rotation; every region's stack runs its own issuer, authorizer, API, WAF and alarms against its own
 * region's replicas and, with the `domain` option, its share of the custom domain ({@link IssuerDomain}).
 * With more than one region and no shared issuer, it warns that its tokens are regional.
 */
export class HybridAuthStack extends Stack {
  public readonly sessions?: SessionTable;
  public readonly signingKeys: SigningKeys;
  public readonly issuer: TokenIssuer;
  public readonly authorizer: TokenAuthorizer;
  public readonly api: AuthApi;
  public readonly alarms: AuthAlarms;
  /** The custom domain's share in this region, when `domain` is configured. */
  public readonly domain?: IssuerDomain;

  public constructor(scope: Construct, id: string, props: HybridAuthStackProps) {
    super(scope, id, { ...props, env: { account: props.env?.account, region: props.region } });
    const { config } = props;
    const primary = props.region === config.primaryRegion;
    const tableName = `${config.name}-sessions`;

    if (primary) {
      this.sessions = new SessionTable(this, 'Sessions', {
        tableName,
        replicaRegions: config.replicaRegions,
        consistency: config.consistency,
      });
    }
    this.signingKeys = new SigningKeys(this, 'SigningKeys', {
      name: config.name,
      role: primary ? 'primary' : 'replica',
      ...(primary
        ? {
            replicaRegions: config.replicaRegions,
            tableName,
            ...(this.sessions === undefined ? {} : { table: this.sessions.table }),
            rotationInterval: config.keyRotationInterval,
            signingAlg: config.signingAlg,
            accessTokenTtl: config.accessTokenTtl,
            clockSkew: config.clockSkew,
            issuerKeyCacheTtl: config.issuerKeyCacheTtl,
            sessionAbsoluteLifetime: config.sessionAbsoluteLifetime,
          }
        : {}),
    });

    const common = {
      tableName,
      ...(config.issuerUrl === undefined ? {} : { issuer: config.issuerUrl }),
      audience: config.audience,
      accessTokenTtl: config.accessTokenTtl,
      clockSkew: config.clockSkew,
    };
    this.authorizer = new TokenAuthorizer(this, 'Authorizer', {
      ...common,
      sessionCacheTtl: config.sessionCacheTtl,
      consistentRead: config.consistency === 'strong',
      expectedReplicationLag: config.expectedReplicationLag,
    });
    this.issuer = new TokenIssuer(this, 'Issuer', {
      ...common,
      signingKeys: this.signingKeys,
      clients: config.clients,
      sessionIdleTimeout: config.sessionIdleTimeout,
      sessionAbsoluteLifetime: config.sessionAbsoluteLifetime,
      refreshGrace: config.refreshGrace,
      issuerKeyCacheTtl: config.issuerKeyCacheTtl,
      securityEventSource: config.name,
    });
    this.api = new AuthApi(this, 'Api', {
      issuerFunction: this.issuer.function,
      authorizerFunction: this.authorizer.function,
      authorizerCacheTtl: config.authorizerCacheTtl,
      sampleBackends: config.sampleBackends,
      throttlingRateLimit: config.throttlingRateLimit,
      throttlingBurstLimit: config.throttlingBurstLimit,
      wafLoginLimit: config.wafLoginLimit,
      wafAuthLimit: config.wafAuthLimit,
      stageName: STAGE_NAME,
    });
    addBackends(this.api);
    if (config.domain !== undefined) {
      this.domain = new IssuerDomain(this, 'Domain', {
        domain: config.domain,
        restApi: this.api.restApi,
        stageName: STAGE_NAME,
      });
    }
    // Without a shared issuer URL, the region's own API URL is its issuer. It is built from the API id and
    // the literal stage name (not `api.url`, whose stage reference would close a cycle through the methods
    // that integrate these functions).
    const issuerUrl =
      config.issuerUrl ??
      `https://${this.api.restApi.restApiId}.execute-api.${this.region}.${this.urlSuffix}/${STAGE_NAME}`;
    if (config.issuerUrl === undefined) {
      this.issuer.function.addEnvironment('ISSUER', issuerUrl);
      this.authorizer.function.addEnvironment('ISSUER', issuerUrl);
    }
    const otherRegions = [config.primaryRegion, ...config.replicaRegions].filter(
      (region) => region !== props.region,
    );
    if (config.issuerUrl === undefined && otherRegions.length > 0) {
      Annotations.of(this).addWarningV2(
        'hybrid-auth:regional-issuer',
        `Tokens are regional: the issuer (iss) of ${props.region} is its own API URL, so its access tokens ` +
          `are refused in ${otherRegions.join(', ')}, a failover makes clients refresh, and resource servers ` +
          'must trust one issuer per region. Set "domain" in the hybrid-auth configuration for one issuer ' +
          'across regions (README "Deploy to AWS").',
      );
    }
    this.alarms = new AuthAlarms(this, 'Alarms', {
      issuerFunction: this.issuer.function,
      authorizerFunction: this.authorizer.function,
      ...(this.signingKeys.rotationFunction === undefined
        ? {}
        : { rotationFunction: this.signingKeys.rotationFunction }),
      issuerLogGroup: this.issuer.function.functionLogGroup,
      authorizerLogGroup: this.authorizer.function.functionLogGroup,
      table: this.sessions?.table ?? TableV2.fromTableName(this, 'SessionsReplica', tableName),
      replicaRegions: config.consistency === 'eventual' ? otherRegions : [],
      api: this.api.restApi,
      webAclName: this.api.webAclMetricName,
      keyRotationInterval: config.keyRotationInterval,
      ...(config.alarmEmail === undefined ? {} : { alarmEmail: config.alarmEmail }),
    });
    new CfnOutput(this, 'ApiUrl', { value: this.api.restApi.url, description: 'The regional API endpoint' });
    new CfnOutput(this, 'IssuerUrl', { value: issuerUrl, description: 'The iss of every token' });
    if (this.domain !== undefined) {
      new CfnOutput(this, 'HealthCheckId', {
        value: this.domain.healthCheck.healthCheckId,
        description: "The Route 53 health check of this region's latency record",
      });
    }
    new CfnOutput(this, 'SigningKeysSecret', { value: this.signingKeys.secret.secretName });
    if (this.signingKeys.rotationFunction !== undefined) {
      new CfnOutput(this, 'RotationFunctionName', { value: this.signingKeys.rotationFunction.functionName });
    }
  }
}
