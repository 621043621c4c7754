import { Duration, Stack } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as targets from 'aws-cdk-lib/aws-route53-targets';
import { Construct } from 'constructs';
import { HEALTH_PATH } from '../lambda/issuer/routes';
import type { DomainConfig } from './config';

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
