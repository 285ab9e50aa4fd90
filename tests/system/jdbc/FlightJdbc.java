// A JDBC tool's view of the gateway's Flight SQL endpoint (tests/system/test_flight_jdbc.py):
// the Flight SQL JDBC driver connects with the URL of docs/flight.md, lists the tables as a
// schema browser does, runs each statement given and prints its rows as tab-separated lines,
// or "refused <message>" for one the endpoint refuses.
// Usage: java -cp DRIVER_JAR:DIR FlightJdbc URL STATEMENT...
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;

public final class FlightJdbc {
  public static void main(String[] args) throws SQLException {
    try (Connection conn = DriverManager.getConnection(args[0])) {
      try (ResultSet tables = conn.getMetaData().getTables(null, null, "%", null)) {
        while (tables.next()) {
          System.out.println("table\t" + tables.getString("TABLE_CAT") + "\t" + tables.getString("TABLE_SCHEM")
              + "\t" + tables.getString("TABLE_NAME") + "\t" + tables.getString("TABLE_TYPE"));
        }
      }
      for (int i = 1; i < args.length; i++) {
        System.out.println("statement\t" + i);
        try (Statement statement = conn.createStatement(); ResultSet rows = statement.executeQuery(args[i])) {
          ResultSetMetaData meta = rows.getMetaData();
          StringBuilder names = new StringBuilder("columns");
          for (int c = 1; c <= meta.getColumnCount(); c++) {
            names.append('\t').append(meta.getColumnLabel(c));
          }
          System.out.println(names);
          while (rows.next()) {
            StringBuilder line = new StringBuilder("row");
            for (int c = 1; c <= meta.getColumnCount(); c++) {
              line.append('\t').append(rows.getString(c));
            }
            System.out.println(line);
          }
        } catch (SQLException refused) {
          System.out.println("refused\t" + refused.getMessage().split("\n")[0]);
        }
      }
    }
  }
}
