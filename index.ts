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
import { TierArgs, TierMonitoring } from "./components/instance";
import { LoadBalancer } from "./components/loadBalancer";
import { Monitoring } from "./components/monitoring";
import { MonitoringServer } from "./components/monitoringServer";
import { Network } from "./components/network";
import { IngressSource } from "./components/securityGroup";
import { WebTier } from "./components/webTier";
import { FirewallMode, parseStackConfig, recordLabels } from "./config";
import { endpointAddresses, galeraZoneWarning, InstancePlan, planTopology, regionZoneFilters, webRolloutOrder } from "./topology";
import { parameterNames, siteSettings } from "./userdata/site";

/**
 * What `firewall` means for every tier, decided once: `strict` lets each tier
 * in only from the tier in front, keeps servers private and reaches the
 * internet through a NAT gateway; `open` (the whiteboard's "no firewall")
 * gives every server a public address and opens its port to anyone.
 */
function exposure(firewall: FirewallMode) {
    const strict = firewall === "strict";
    return {
        natGateway: strict,
        publicAddresses: !strict,
        onlyFrom: (securityGroupId: pulumi.Input<string>): IngressSource =>
            strict ? { from: "securityGroup", securityGroupId } : { from: "anywhere" },
    };
}

export = async () => {
    const config = parseStackConfig(pulumi.getProject(), pulumi.getStack(), pulumi.runtime.allConfig());
    // The layout depends on how many zones the region offers this account, so the plan waits for the answer.
    const zones = (await aws.getAvailabilityZones(regionZoneFilters)).names;
    const plan = planTopology(config, zones.length);
    const zoneWarning = galeraZoneWarning(config, plan, zones.length);
    if (zoneWarning) pulumi.log.warn(zoneWarning);
    const settings = siteSettings(config, plan);
    const names = parameterNames(config.stack);

    const ami = debianAmi(config.architecture, config.amiId);
    const firewall = exposure(config.firewall);

    const network = new Network("vpc", {
        stack: config.stack,
        cidrBlock: plan.cidrBlocks[0],
        secondaryCidrBlocks: plan.cidrBlocks.slice(1),
        subnets: plan.subnets,
        availabilityZones: zones,
        natGateway: firewall.natGateway,
        internalZone: config.internalZone,
    });
    const placement = (server: InstancePlan) => ({
        name: server.name,
        privateIp: server.privateIp,
        subnetId: network.subnetIds[server.subnet.name],
    });
    const databasePlacement = (server: InstancePlan) => ({
        name: server.name,
        settings: settings.db[server.name],
        subnetId: network.subnetIds[server.subnet.name],
        availabilityZone: zones[server.subnet.az],
    });

    const alarms =
        config.monitoring && plan.monitoring
            ? new Monitoring("monitoring", { stack: config.stack, alarmEmail: config.alarmEmail })
            : undefined;
    const monitoring: TierMonitoring =
        alarms && plan.monitoring
            ? { enabled: true, alarmTopicArn: alarms.alarmTopicArn, scraperIp: plan.monitoring.privateIp }
            : { enabled: false };

    // What every tier takes; each adds its instance type.
    const common: Omit<TierArgs, "instanceType"> = {
        stack: config.stack,
        region: config.region,
        vpcId: network.vpcId,
        vpcCidrBlocks: plan.cidrBlocks,
        ami,
        adminCidr: config.adminCidr,
        keyName: config.keyName,
        monitoring,
    };

    const credentials = new DatabaseCredentials("db-credentials", {
        stack: config.stack,
        appPasswordParameter: names.appPassword,
        replicationPasswordParameter: names.replicationPassword,
        exporterPasswordParameter: config.monitoring ? names.exporterPassword : undefined,
    });

    const [firstLb, secondLb] = plan.lbs;
    const lb = new LoadBalancer("lb", {
        ...common,
        servers:
            secondLb && settings.vrrp
                ? {
                      kind: "pair",
                      servers: [
                          { ...placement(firstLb), vrrp: settings.vrrp[firstLb.name] },
                          { ...placement(secondLb), vrrp: settings.vrrp[secondLb.name] },
                      ],
                  }
                : { kind: "single", server: placement(firstLb) },
        instanceType: config.lbInstanceType,
        settings: settings.lb,
    });

    const web = new WebTier(
        "web",
        {
            ...common,
            servers: webRolloutOrder(plan).map(placement),
            instanceType: config.webInstanceType,
            appIngress: firewall.onlyFrom(lb.securityGroupId),
            publicAddresses: firewall.publicAddresses,
            settings: settings.web,
            passwordParameterArn: credentials.appPassword.arn,
        },
        { dependsOn: [credentials] },
    );
    // The backend list changes only after the web servers it names serve.
    lb.publishConfiguration(web.readiness);

    const db = new Database("db", {
        ...common,
        primary: databasePlacement(plan.dbPrimary),
        replicas: plan.dbReplicas.map(databasePlacement),
        instanceType: config.dbInstanceType,
        volumeSizeGiB: config.dbVolumeSizeGiB,
        credentials,
        clientIngress: firewall.onlyFrom(web.securityGroupId),
        publicAddresses: firewall.publicAddresses,
        internalZoneId: network.internalZoneId,
        endpoints: endpointAddresses(plan),
        deletionProtection: config.dbDeletionProtection,
    });

    // Service-level monitoring: after the load balancer, whose public URL it probes from outside the VPC.
    const monitoringServer =
        monitoring.enabled && alarms && plan.monitoring && settings.monitoring
            ? new MonitoringServer("monitoring-server", {
                  ...common,
                  server: placement(plan.monitoring),
                  instanceType: config.monitoringInstanceType,
                  settings: settings.monitoring,
                  publicUrl: lb.url,
                  alarmTopicArn: monitoring.alarmTopicArn,
                  alarmTopicKeyArn: alarms.alarmTopicKeyArn,
                  publicAddress: firewall.publicAddresses,
              })
            : undefined;

    if (config.domain && config.hostedZoneId) {
        new aws.route53.Record("www", {
            zoneId: config.hostedZoneId,
            name: `${recordLabels.domain.www}.${config.domain}`,
            type: "A",
            ttl: 300,
            records: [lb.publicIp],
        });
    }

    return {
        url: config.domain ? `${config.https === "none" ? "http" : "https"}://www.${config.domain}/` : lb.url,
        loadBalancerPublicIp: lb.publicIp,
        loadBalancerInstanceIds: lb.instanceIds,
        // In the plan's order (web-1 first), whatever order the servers roll out in.
        webPrivateIps: plan.web.map((w) => w.privateIp),
        databaseWriterEndpoint: plan.endpoints.writer,
        databaseReaderEndpoint: plan.endpoints.reader,
        ssmParameterNames: {
            appPassword: credentials.appPassword.name,
            replicationPassword: credentials.replicationPassword.name,
            ...(lb.tlsParameterName ? { tlsPem: lb.tlsParameterName } : {}),
            ...(lb.vrrpPasswordParameterName ? { vrrpPassword: lb.vrrpPasswordParameterName } : {}),
            ...(credentials.exporterPassword ? { exporterPassword: credentials.exporterPassword.name } : {}),
        },
        databaseInstanceIds: [db.primaryInstanceId, ...db.replicaInstanceIds],
        ...(monitoringServer
            ? { monitoring: { prometheusUrl: monitoringServer.prometheusUrl, alertmanagerUrl: monitoringServer.alertmanagerUrl } }
            : {}),
    };
};
