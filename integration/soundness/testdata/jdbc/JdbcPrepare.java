import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.Properties;

/** JDBC through the gateway for the soundness suite: prints the backend pid, then replaces the driver's
 *  server-side statement S_1 (prepareThreshold=1) by a SQL PREPARE of the same name, and runs the driver's
 *  prepared statement again: PostgreSQL binds S_1, the UPDATE. Prints each outcome on its own line. */
public class JdbcPrepare {
    public static void main(String[] args) throws Exception {
        String url = args[0], user = args[1], password = args[2], marker = args[3], tag = args[4];
        Properties p = new Properties();
        p.setProperty("user", user);
        p.setProperty("password", password);
        p.setProperty("sslmode", "require");
        p.setProperty("prepareThreshold", "1");
        p.setProperty("ApplicationName", "h2-soundness-jdbc");
        try (Connection c = DriverManager.getConnection(url, p); Statement st = c.createStatement()) {
            try (ResultSet rs = st.executeQuery("SELECT pg_backend_pid(), '" + tag + "'")) {
                rs.next();
                System.out.println("pid=" + rs.getInt(1));
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT v FROM " + marker + " WHERE id = ?")) {
                ps.setInt(1, 2);
                try (ResultSet rs = ps.executeQuery()) { rs.next(); System.out.println("first=" + rs.getInt(1)); }
                for (String q : new String[]{"DEALLOCATE S_1", "PREPARE S_1(int) AS UPDATE " + marker + " SET v = 666 WHERE id = $1 RETURNING v"}) {
                    try { st.execute(q); System.out.println("ok: " + q); } catch (Exception e) { System.out.println("refused: " + q + ": " + e.getMessage()); }
                }
                try (ResultSet rs = ps.executeQuery()) { rs.next(); System.out.println("second=" + rs.getInt(1)); }
                catch (Exception e) { System.out.println("second refused: " + e.getMessage()); }
            }
        }
    }
}
