/**
 * The three-server web infrastructure of www.foobar.com: an HAProxy load
 * balancer, a web/app tier and a MariaDB primary/replica pair, each configured
 * by cloud-init. Reads the stack config, wires the tiers, returns the outputs.
 *
 * The program is exported as a function (Pulumi calls it and exports what it
 * returns) so the offline preview and the tests can run it more than once in
 * one process.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { debianAmi } from "./components/ami";
import { Database, DatabaseCredentials } from "./components/database";
import { LoadBalancer } from "./components/loadBalancer";
import { Monitoring } from "./components/monitoring";
import { Network } from "./components/network";
import { WebTier } from "./components/webTier";
import { parseStackConfig } from "./config";
import { endpointAddresses, planTopology } from "./topology";
import { parameterNames, siteSettings } from "./userdata/site";

export = async () => {
    const config = parseStackConfig(pulumi.getProject(), pulumi.getStack(), pulumi.runtime.allConfig());
    const plan = planTopology(config);
    const settings = siteSettings(config, plan);
    const names = parameterNames(config.stack);

    const zones = aws.getAvailabilityZonesOutput({ state: "available" }).names;
    const ami = debianAmi(config.architecture, config.amiId);
    const strict = config.firewall === "strict";

    const network = new Network("vpc", {
        stack: config.stack,
        cidrBlock: config.vpcCidr,
        subnets: plan.subnets,
        availabilityZones: zones,
        natGateway: strict,
        internalZone: config.internalZone,
    });
    const subnetId = (subnet: { name: string }) => network.subnetIds[subnet.name];
    const zoneOf = (subnet: { az: number }) => zones.apply((z) => z[subnet.az]);

    const monitoring = config.monitoring ? new Monitoring("monitoring", { stack: config.stack, alarmEmail: config.alarmEmail }) : undefined;

    // What every tier takes (TierArgs).
    const common = {
        stack: config.stack,
        region: config.region,
        vpcId: network.vpcId,
        vpcCidr: config.vpcCidr,
        ami,
        adminCidr: config.adminCidr,
        keyName: config.keyName,
        alarmTopicArn: monitoring?.alarmTopicArn,
    };

    const credentials = new DatabaseCredentials("db-credentials", {
        stack: config.stack,
        appPasswordParameter: names.appPassword,
        replicationPasswordParameter: names.replicationPassword,
    });

    const lb = new LoadBalancer("lb", {
        ...common,
        subnetId: subnetId(plan.lb.subnet),
        privateIp: plan.lb.privateIp,
        instanceType: config.lbInstanceType,
        settings: settings.lb,
    });

    const web = new WebTier(
        "web",
        {
            ...common,
            servers: plan.web.map((w) => ({ name: w.name, privateIp: w.privateIp, subnetId: subnetId(w.subnet) })),
            instanceType: config.webInstanceType,
            loadBalancerSecurityGroupId: strict ? lb.securityGroupId : undefined,
            publicAddresses: !strict,
            settings: settings.web,
            passwordParameterArn: credentials.appPassword.arn,
        },
        { dependsOn: [credentials] },
    );

    const db = new Database("db", {
        ...common,
        servers: [plan.dbPrimary, ...plan.dbReplicas].map((s) => ({
            name: s.name,
            settings: settings.db[s.name],
            subnetId: subnetId(s.subnet),
            availabilityZone: zoneOf(s.subnet),
        })),
        instanceType: config.dbInstanceType,
        volumeSizeGiB: config.dbVolumeSizeGiB,
        credentials,
        clientSecurityGroupId: strict ? web.securityGroupId : undefined,
        publicAddresses: !strict,
        internalZoneId: network.internalZoneId,
        endpoints: endpointAddresses(plan),
        deletionProtection: config.dbDeletionProtection,
    });

    if (config.domain && config.hostedZoneId) {
        new aws.route53.Record("www", {
            zoneId: config.hostedZoneId,
            name: `www.${config.domain}`,
            type: "A",
            ttl: 300,
            records: [lb.publicIp],
        });
    }

    return {
        url: config.domain ? `${config.https === "none" ? "http" : "https"}://www.${config.domain}/` : lb.url,
        loadBalancerPublicIp: lb.publicIp,
        webPrivateIps: web.privateIps,
        databaseWriterEndpoint: plan.endpoints.writer,
        databaseReaderEndpoint: plan.endpoints.reader,
        ssmParameterNames: {
            appPassword: credentials.appPassword.name,
            replicationPassword: credentials.replicationPassword.name,
            ...(lb.tlsParameterName ? { tlsPem: lb.tlsParameterName } : {}),
        },
        databaseInstanceIds: [db.primaryInstanceId, ...db.replicaInstanceIds],
    };
};
