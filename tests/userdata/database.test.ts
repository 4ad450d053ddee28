/** The database servers' MariaDB configuration, through the server's own option parsing. */
import * as fs from "fs";
import * as path from "path";
import { run, tempDir } from "../helpers";
import { cases, file } from "./helpers";

test.each(cases(/^db/))("%s: mariadbd accepts the server configuration", (_, r) => {
    const dir = tempDir("mariadb");
    const cnf = path.join(dir, "60-foobar.cnf");
    fs.writeFileSync(cnf, file(r.text, "/etc/mysql/mariadb.conf.d/60-foobar.cnf"));
    const result = run("mariadbd", [`--defaults-file=${cnf}`, "--help", "--verbose"]);
    expect(result.output).not.toMatch(/unknown (variable|option)|\[ERROR\]/);
    expect(result.status).toBe(0);
    // The server really parsed our values: its effective settings show them.
    expect(result.output).toMatch(/^log-bin\s+mysql-bin$/m);
    expect(result.output).toMatch(r.role === "db-replica" ? /^read-only\s+TRUE$/m : /^read-only\s+FALSE$/m);
    expect(result.output).toMatch(/^gtid-strict-mode\s+TRUE$/m);
});

test("mariadbd rejects an unknown option (the check can fail)", () => {
    const dir = tempDir("mariadb");
    fs.writeFileSync(path.join(dir, "bad.cnf"), "[mysqld]\nlog_bin_typo = 1\n");
    expect(run("mariadbd", [`--defaults-file=${path.join(dir, "bad.cnf")}`, "--help", "--verbose"]).status).not.toBe(0);
});
