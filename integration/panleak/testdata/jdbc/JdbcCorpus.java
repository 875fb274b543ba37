import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Properties;

/** PostgreSQL JDBC client of TestPANLeakAllClients: runs every case of a corpus file ("id TAB sql" per line)
 *  as a server-prepared statement with binary results from the first execution (prepareThreshold=-1) for the
 *  types listed in binaryTransferEnable. Prints each value ("V", getString and getObject), an error's text
 *  ("M", one line), then "@@CASE id ok rows" or "@@CASE id err sqlstate". Run with the source launcher:
 *  java -cp postgresql.jar JdbcCorpus.java url user password corpus. */
public class JdbcCorpus {
    public static void main(String[] args) throws Exception {
        String url = args[0], user = args[1], password = args[2], path = args[3];
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
        Properties p = new Properties();
        p.setProperty("user", user);
        p.setProperty("password", password);
        p.setProperty("sslmode", "disable");
        p.setProperty("prepareThreshold", "-1"); // server-prepared and binary from the first execution
        // int8, numeric, float8, money, text, varchar, json, jsonb, xml, record, int8range, numrange,
        // int8multirange, nummultirange, and arrays of int8, numeric, text, int8range
        p.setProperty("binaryTransferEnable", "20,1700,701,790,25,1043,114,3802,142,2249,3926,3906,4536,4532,1016,1231,1009,3927");
        try (Connection c = DriverManager.getConnection(url, p)) {
            for (String line : Files.readAllLines(Paths.get(path), StandardCharsets.UTF_8)) {
                int tab = line.indexOf('\t');
                if (tab < 0) {
                    continue;
                }
                String id = line.substring(0, tab), sql = line.substring(tab + 1);
                try (PreparedStatement ps = c.prepareStatement(sql)) {
                    int n = 0;
                    if (ps.execute()) {
                        try (ResultSet rs = ps.getResultSet()) {
                            int cols = rs.getMetaData().getColumnCount();
                            while (rs.next()) {
                                StringBuilder sb = new StringBuilder("V");
                                for (int i = 1; i <= cols; i++) {
                                    sb.append('\t'); // not a separator the stream detector joins over: columns stay apart
                                    try {
                                        sb.append(rs.getString(i)).append('|').append(rs.getObject(i));
                                    } catch (Exception e) {
                                        sb.append("!decode ").append(e.getClass().getSimpleName()).append(' ').append(e.getMessage());
                                    }
                                }
                                out.println(sb.toString().replace('\n', ' '));
                                n++;
                            }
                        }
                    }
                    out.println("@@CASE " + id + " ok " + n);
                } catch (SQLException e) {
                    out.println("M " + String.valueOf(e.getMessage()).replace('\n', ' '));
                    out.println("@@CASE " + id + " err " + e.getSQLState());
                }
            }
        }
    }
}
