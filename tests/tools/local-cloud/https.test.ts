/**
 * The prod stack (HTTPS, strict firewall) on the local cloud: HAProxy loads the
 * certificate the setup fetched from the secret store, serves the site over
 * TLS and redirects plain HTTP. Bounded like the dev suite.
 */
import * as container from "../../../tools/local-cloud/container";
import { inVpc } from "../../../tools/local-cloud/network";
import { describeLocalSite } from "./describeLocalCloud";

const probe = `
import http.client, json, ssl, sys
host = sys.argv[1]
plain = http.client.HTTPConnection(host, 80, timeout=5)
plain.request("GET", "/api/status")
r = plain.getresponse()
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE  # self-signed by design; the test checks what the certificate says
tls = http.client.HTTPSConnection(host, 443, timeout=5, context=ctx)
tls.request("GET", "/api/status")
s = tls.getresponse()
cert = ssl.DER_cert_to_PEM_cert(tls.sock.getpeercert(binary_form=True))
print(json.dumps({"plainStatus": r.status, "location": r.getheader("Location"), "tlsStatus": s.status,
                  "hsts": s.getheader("Strict-Transport-Security"), "body": json.loads(s.read()),
                  "tlsVersion": tls.sock.version(), "cert": cert}))
`;

describeLocalSite("the prod topology on the local cloud", "prod", "fbprodtest", (site) => {
    test("HTTPS on 443 with the generated certificate; plain HTTP redirects to it", async () => {
        const r = await inVpc(["python3", "-c", probe, site().plan.lb.privateIp]);
        expect(r.stderr).toBe("");
        const result = JSON.parse(r.stdout);
        expect(result).toMatchObject({
            plainStatus: 301,
            location: `https://${site().plan.lb.privateIp}/api/status`,
            tlsStatus: 200,
            hsts: "max-age=31536000",
            body: { database: { readFrom: "replica" } },
        });
        expect(["TLSv1.2", "TLSv1.3"]).toContain(result.tlsVersion);
        expect(result.cert).toMatch(/^-----BEGIN CERTIFICATE-----/);
        // The certificate the load balancer serves is the one fetched at boot, not one baked into an image.
        const served = await container.exec("lb-1", ["sh", "-c", "openssl x509 -noout -fingerprint -sha256 < /etc/haproxy/certs/site.pem"]);
        const presented = await inVpc(["sh", "-c", `printf '%s' "$0" | openssl x509 -noout -fingerprint -sha256`, result.cert]);
        expect(presented.stdout).toBe(served.stdout);
        expect(served.stdout).toMatch(/Fingerprint=/);
    });

    test("the certificate file is readable by root and haproxy only", async () => {
        const mode = await container.exec("lb-1", ["stat", "-c", "%a %U:%G", "/etc/haproxy/certs/site.pem"]);
        expect(mode.stdout.trim()).toBe("640 root:haproxy");
    });
});
