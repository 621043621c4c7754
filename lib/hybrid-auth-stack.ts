import { Annotations, CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import { TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as targets from 'aws-cdk-lib/aws-route53-targets';
import { Construct } from 'constructs';
import { HEALTH_PATH } from '../lambda/issuer/routes';
import { AuthAlarms } from './auth-alarms';
import { AuthApi } from './auth-api';
import { addBackends } from './backends';
import type { DomainConfig, HybridAuthConfig } from './config';
import { SessionTable } from './session-table';
import { SigningKeys } from './signing-keys';
import { TokenAuthorizer, TokenIssuer } from './token-functions';

/** The API stage every region deploys. */
const STAGE_NAME = 'v1';

/** Properties of {@link IssuerDomain}. */
export interface IssuerDomainProps {
  /** The one DNS name and its Route 53 hosted zone. */
  readonly domain: DomainConfig;
  /** This region's REST API: its deployment stage is mapped at the root of the domain. */
  readonly restApi: apigateway.RestApi;
  /** The literal name of that stage: the health check calls `/<stageName><HEALTH_PATH>` on the API's own host. */
  readonly stageName: string;
}

/**
 * One region's share of the `domain` option: an ACM certificate for the name (validated through DNS in the
 * hosted zone), a regional API Gateway custom domain (TLS 1.2) mapping the name's root to this region's
 * stage, a Route 53 health check on this region's health route, and this region's latency record for the
 * name, answered only while that health check passes. Every region's stack adds its own record to the one
 * latency group, so Route 53 answers each client with the nearest healthy region.
 *
 * @example
 * new IssuerDomain(this, 'Domain', {
 *   domain: { name: 'auth.example.com', hostedZoneId: 'Z0123456789ABCDEFGHIJ', hostedZoneName: 'example.com' },
 *   restApi: api.restApi,
 *   stageName: 'v1',
 * });
 */
export class IssuerDomain extends Construct {
  /** The name's certificate in this region (a regional custom domain needs one from its own region). */
  public readonly certificate: acm.Certificate;
  /** The regional custom domain. */
  public readonly domainName: apigateway.DomainName;
  /** The health check of this region's latency record. */
  public readonly healthCheck: route53.HealthCheck;
  /** This region's latency record for the name. */
  public readonly record: route53.ARecord;

  public constructor(scope: Construct, id: string, props: IssuerDomainProps) {
    super(scope, id);
    const { name, hostedZoneId, hostedZoneName } = props.domain;
    const stack = Stack.of(this);
    const zone = route53.HostedZone.fromHostedZoneAttributes(this, 'Zone', {
      hostedZoneId,
      zoneName: hostedZoneName,
    });
    // A regional custom domain needs an ACM certificate in the API's own region, and Route 53 points the name
    // at it with an A alias record
    // (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-regional-api-custom-domain-create.html).
    // With the hosted zone given,
    // CloudFormation adds the validation CNAME itself
    // (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-certificatemanager-certificate-domainvalidationoption.html).
    this.certificate = new acm.Certificate(this, 'Certificate', {
      domainName: name,
      validation: acm.CertificateValidation.fromDns(zone),
    });
    this.domainName = new apigateway.DomainName(this, 'DomainName', {
      domainName: name,
      certificate: this.certificate,
      endpointType: apigateway.EndpointType.REGIONAL,
      securityPolicy: apigateway.SecurityPolicy.TLS_1_2,
    });
    // No base path: https://<name>/.well-known/jwks.json is the stage's /.well-known/jwks.json, so the issuer
    // is https://<name> and the discovery document's URLs hang off it.
    new apigateway.BasePathMapping(this, 'BasePathMapping', {
      domainName: this.domainName,
      restApi: props.restApi,
      stage: props.restApi.deploymentStage,
    });
    // The checker calls this region's own execute-api host, never the name: the name is latency-routed, so a
    // checker would reach whichever region is nearest to it, and Route 53 calls the results of a health check
    // whose domain name is the name of the records it guards unpredictable
    // (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-route53-healthcheck-healthcheckconfig.html#cfn-route53-healthcheck-healthcheckconfig-fullyqualifieddomainname).
    // HTTPS passes on a 2xx or 3xx status, so the health route's 503 (this region's table or signing keys
    // unusable) fails it (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/health-checks-creating-values.html).
    this.healthCheck = new route53.HealthCheck(this, 'HealthCheck', {
      type: route53.HealthCheckType.HTTPS,
      fqdn: `${props.restApi.restApiId}.execute-api.${stack.region}.${stack.urlSuffix}`,
      port: 443,
      enableSNI: true,
      resourcePath: `/${props.stageName}${HEALTH_PATH}`,
      requestInterval: Duration.seconds(30),
      failureThreshold: 3,
    });
    // A latency alias record per region, all with the one name; an API Gateway target takes an A record
    // (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/resource-record-sets-values-latency-alias.html).
    // The set identifier is the region, so a second copy of the platform given the same name fails to
    // create its records instead of joining this latency group. EvaluateTargetHealth stays off: for API
    // Gateway it adds nothing, and AWS recommends a health check instead
    // (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-route53-recordset-aliastarget.html#cfn-route53-recordset-aliastarget-evaluatetargethealth).
    this.record = new route53.ARecord(this, 'LatencyRecord', {
      zone,
      recordName: name,
      target: route53.RecordTarget.fromAlias(new targets.ApiGatewayDomain(this.domainName)),
      region: stack.region,
      setIdentifier: stack.region,
      healthCheck: this.healthCheck,
    });
  }
}

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
    });
    this.issuer = new TokenIssuer(this, 'Issuer', {
      ...common,
      signingKeys: this.signingKeys,
      clients: config.clients,
      sessionIdleTimeout: config.sessionIdleTimeout,
      sessionAbsoluteLifetime: config.sessionAbsoluteLifetime,
      refreshGrace: config.refreshGrace,
      issuerKeyCacheTtl: config.issuerKeyCacheTtl,
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
