// Starts Amazon's DynamoDB Local listening on 127.0.0.1 only. DynamoDB Local has no option for
// the address it listens on and binds every interface, which would put the local stack's data
// (test patients included) on the machine's network. This launcher builds the server exactly as
// `java -jar DynamoDBLocal.jar` does, with the same arguments, and binds its one connector to
// loopback before starting it. Run with Java's single-file launcher:
//   java -cp DynamoDBLocal.jar infra/local/LoopbackDynamoDB.java -inMemory -sharedDb -port N
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public class LoopbackDynamoDB {
    public static void main(String[] args) throws Exception {
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        // The Jetty server is private to the proxy; it is configured, not yet listening.
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server server = (Server) field.get(proxy);
        for (Connector connector : server.getConnectors()) {
            ((ServerConnector) connector).setHost("127.0.0.1");
        }
        proxy.start();
        proxy.join();
    }
}
