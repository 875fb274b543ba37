import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.util.Properties;

/** PostgreSQL JDBC client for the PAN leak test: server-prepared statements (prepareThreshold=1) with binary
 *  transfer (int8, numeric, float8), an error and a notice. Prints every value it received (the Go test scans
 *  them for card numbers), then a summary. */
public class JdbcLeak {
    public static void main(String[] args) throws Exception {
        String url = args[0], user = args[1], password = args[2], table = args[3];
        Properties p = new Properties();
        p.setProperty("user", user);
        p.setProperty("password", password);
        p.setProperty("sslmode", "disable");
        p.setProperty("prepareThreshold", "1");
        p.setProperty("binaryTransferEnable", "NUMERIC,INT8,FLOAT8,TEXT,VARCHAR");
        String[] queries = {
            "SELECT pan FROM " + table + " WHERE id > ? ORDER BY id",
            "SELECT pan::bigint FROM " + table + " WHERE id > ? ORDER BY id",
            "SELECT pan::numeric FROM " + table + " WHERE id > ? ORDER BY id",
            "SELECT pan::float8 FROM " + table + " WHERE id > ? ORDER BY id",
            "SELECT array_agg(pan::bigint ORDER BY id) FROM " + table + " WHERE id > ?",
            "SELECT string_agg(pan, ',' ORDER BY id) FROM " + table + " WHERE id > ?",
        };
        StringBuilder counts = new StringBuilder("rows");
        try (Connection c = DriverManager.getConnection(url, p)) {
            for (String q : queries) {
                int n = 0;
                try (PreparedStatement ps = c.prepareStatement(q)) {
                    for (int round = 0; round < 3; round++) { // from round 1 on: named statement, binary results
                        ps.setInt(1, 0);
                        n = 0;
                        try (ResultSet rs = ps.executeQuery()) {
                            while (rs.next()) {
                                System.out.println(rs.getString(1) + "|" + rs.getObject(1));
                                n++;
                            }
                        }
                    }
                }
                counts.append(' ').append(n);
            }
            System.out.println(counts);
            String code = null;
            try (Statement s = c.createStatement()) {
                s.executeQuery("SELECT pan::int FROM " + table);
            } catch (SQLException e) {
                code = e.getSQLState();
                System.out.println(e.getMessage());
            }
            System.out.println("error " + code);
            int notices = 0;
            try (Statement s = c.createStatement()) {
                s.execute("DO $$ DECLARE p text; BEGIN SELECT pan INTO p FROM " + table + " WHERE id = 1; RAISE NOTICE 'card %', p USING DETAIL = p; END $$");
                for (SQLWarning w = s.getWarnings(); w != null; w = w.getNextWarning()) {
                    System.out.println(w.getMessage());
                    notices++;
                }
            }
            System.out.println("notice " + notices);
            System.out.println("done");
        }
    }
}
