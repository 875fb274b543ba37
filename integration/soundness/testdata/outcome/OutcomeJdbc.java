import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.StringReader;
import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;

import org.postgresql.copy.CopyManager;
import org.postgresql.core.BaseConnection;

/** JDBC client of the soundness suite's outcome test (outcome_test.go): runs the steps read from stdin, one a
 *  line, fields separated by U+001F: pid|exec|copyout|copyin|batch, then the SQL (copyin: the data, with
 *  newlines written as \n; batch: statements sent as one JDBC batch, pipelined under one Sync). Prints
 *  pid=<backend pid> for the pid step and one line per step: ok … or error <sqlstate>. */
public class OutcomeJdbc {
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        p.setProperty("user", args[1]);
        p.setProperty("password", args[2]);
        p.setProperty("sslmode", "require");
        p.setProperty("ApplicationName", "h2-soundness-outcome");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
        try (Connection c = DriverManager.getConnection(args[0], p); Statement st = c.createStatement()) {
            CopyManager cm = new CopyManager(c.unwrap(BaseConnection.class));
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isEmpty()) continue;
                String[] f = line.split("\u001f");
                try {
                    switch (f[0]) {
                        case "pid":
                            try (ResultSet rs = st.executeQuery(f[1])) { rs.next(); System.out.println("pid=" + rs.getInt(1)); }
                            break;
                        case "exec":
                            st.execute(f[1]);
                            System.out.println("ok " + st.getUpdateCount());
                            break;
                        case "copyout":
                            ByteArrayOutputStream out = new ByteArrayOutputStream();
                            System.out.println("ok copied " + cm.copyOut(f[1], out));
                            break;
                        case "copyin":
                            System.out.println("ok copied " + cm.copyIn(f[1], new StringReader(f[2].replace("\\n", "\n"))));
                            break;
                        case "batch":
                            for (int i = 1; i < f.length; i++) st.addBatch(f[i]);
                            try { st.executeBatch(); System.out.println("ok batch"); } finally { st.clearBatch(); }
                            break;
                        default:
                            throw new IllegalArgumentException("unknown step " + f[0]);
                    }
                } catch (BatchUpdateException e) {
                    SQLException n = e.getNextException();
                    System.out.println("error " + (n != null ? n.getSQLState() : e.getSQLState()));
                } catch (SQLException e) {
                    System.out.println("error " + e.getSQLState());
                }
            }
        }
    }
}
