import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.Properties;

/** PostgreSQL JDBC client for the gateway integration test: server-prepared statements (prepareThreshold=1),
 *  binary transfer, a batch insert. Prints one line per row and a summary. */
public class JdbcClient {
    public static void main(String[] args) throws Exception {
        String url = args[0], user = args[1], password = args[2], table = args[3];
        Properties p = new Properties();
        p.setProperty("user", user);
        p.setProperty("password", password);
        p.setProperty("sslmode", "require");
        p.setProperty("prepareThreshold", "1");
        try (Connection c = DriverManager.getConnection(url, p)) {
            for (int round = 0; round < 3; round++) {
                try (PreparedStatement ps = c.prepareStatement("SELECT id, name, amount FROM " + table + " WHERE id <= ? ORDER BY id")) {
                    ps.setInt(1, 5);
                    try (ResultSet rs = ps.executeQuery()) {
                        while (rs.next()) {
                            if (round == 2) System.out.println(rs.getInt(1) + "|" + rs.getString(2) + "|" + rs.getBigDecimal(3).toPlainString());
                        }
                    }
                }
            }
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + table + " VALUES (?, ?, 'none', 1)")) {
                for (int i = 0; i < 3; i++) {
                    ps.setInt(1, 400 + i);
                    ps.setString(2, "jdbc " + i);
                    ps.addBatch();
                }
                ps.executeBatch();
            }
            c.commit();
            System.out.println("done");
        }
    }
}
